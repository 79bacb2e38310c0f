source "generator" "ticks" {}

sink "stdout" "out" {
  inputs = ["source.ticks"]
}
