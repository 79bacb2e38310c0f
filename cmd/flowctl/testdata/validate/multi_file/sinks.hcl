sink "discard" "null" {
  inputs = [source.ticks, source.tocks]
}
source "generator" "ticks" {
  count = 6
}
