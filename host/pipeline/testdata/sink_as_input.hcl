source "generator" "ticks" {}

sink "file" "raw" {
  inputs = [source.ticks]
}

sink "file" "copy" {
  inputs = [sink.raw, sink.nothing]
}
