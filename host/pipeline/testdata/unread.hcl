source "generator" "read" {}

source "generator" "forgotten" {}

processor "transform" "dead_end" {
  inputs = [source.read]
}

sink "file" "out" {
  inputs = [source.read]
}
