source "generator" "s" {}

processor "transform" "tag" {
  inputs      = [source.s]
  dead_letter = sink.dlq
}

sink "file" "out" {
  inputs      = [processor.tag]
  dead_letter = sink.dlq
}

sink "file" "dlq" {
  on_error    = "retry"
  dead_letter = sink.last
}

sink "file" "last" {}

sink "file" "a" {
  inputs      = [source.s]
  dead_letter = sink.b
}

sink "file" "b" {
  inputs      = [source.s]
  dead_letter = sink.a
}
