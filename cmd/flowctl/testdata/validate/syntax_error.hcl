source "generator" "ticks" {
  count = 10
sink "discard" "null" {
  inputs = [source.ticks]
}
