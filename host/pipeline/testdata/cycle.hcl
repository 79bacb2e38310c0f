source "generator" "ticks" {}

processor "transform" "a" {
  inputs = [source.ticks, processor.b]
}

processor "transform" "b" {
  inputs = [processor.a]
}

sink "file" "out" {
  inputs = [processor.b]
}
