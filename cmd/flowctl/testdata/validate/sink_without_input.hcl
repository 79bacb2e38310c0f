source "generator" "ticks" {}
sink "discard" "a" {
  inputs = [source.ticks]
}
sink "discard" "b" {}
