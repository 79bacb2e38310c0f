source "generator" "ticks" {}

sink "file" "out" {
  inputs = [source.ticks, source.ticks]
}
