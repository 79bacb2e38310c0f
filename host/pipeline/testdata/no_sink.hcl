source "generator" "ticks" {}

processor "transform" "tag" {
  inputs = [source.ticks]
}
