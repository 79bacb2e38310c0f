source "generator" "ticks" {}

processor "transform" "tag" {
  inputs = [source.ticks]
}

sink "file" "out" {
  inputs = [processor.tag]
}
