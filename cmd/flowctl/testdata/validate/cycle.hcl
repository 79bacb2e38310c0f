source "generator" "ticks" {
  count = 10
}
processor "transform" "a" {
  inputs = [source.ticks, processor.b]
}
processor "transform" "b" {
  inputs = [processor.a]
}
sink "discard" "null" {
  inputs = [processor.b]
}
