source "generator" "ticks" {}

processor "transform" "a" {
  inputs = [upper("x"), 42, stream.ticks, source, source.ticks.count, source["ticks"]]
}

sink "stdout" "out" {
  inputs = source.ticks
}
