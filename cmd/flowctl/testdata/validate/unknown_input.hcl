source "generator" "ticks" {
  count = 10
}
processor "transform" "tag" {
  inputs = [source.ticks]
}
sink "discard" "null" {
  inputs = [processor.tag, source.tick]
}
