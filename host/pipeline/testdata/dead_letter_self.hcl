source "generator" "s" {}

sink "file" "out" {
  inputs      = [source.s]
  dead_letter = sink.out
}
