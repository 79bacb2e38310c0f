source "generator" "ticks" {}

source "generator" "tocks" {}

processor "transform" "tag" {
  inputs = [source.ticks, source.tocks]
}

sink "file" "a" {
  inputs = [source.nope]
}

sink "file" "b" {
  inputs = [processor.tg]
}

sink "file" "c" {
  inputs = [processor.ticks, processor.tag]
}
