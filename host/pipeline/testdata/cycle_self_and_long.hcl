source "generator" "ticks" {}

processor "transform" "loop" {
  inputs = [processor.loop, source.ticks]
}

processor "transform" "x" {
  inputs = [source.ticks, processor.z]
}

processor "transform" "y" {
  inputs = [processor.x]
}

processor "transform" "z" {
  inputs = [processor.y]
}

sink "file" "out" {
  inputs = [processor.loop, processor.z]
}
