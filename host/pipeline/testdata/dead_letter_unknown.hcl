source "generator" "s" {}

processor "transform" "tag" {
  inputs      = [source.s]
  dead_letter = sink.faild
}

sink "file" "out" {
  inputs      = [processor.tag]
  on_error    = "retry"
  dead_letter = sink.nope
}

sink "file" "failed" {
  inputs = [source.s]
}
