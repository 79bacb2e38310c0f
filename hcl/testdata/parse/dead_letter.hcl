source "generator" "s" {}

processor "transform" "quoted" {
  inputs      = [source.s]
  dead_letter = "sink.dlq"
}

processor "transform" "not_sink" {
  inputs      = [source.s]
  dead_letter = processor.quoted
}

processor "transform" "variable" {
  inputs      = [source.s]
  dead_letter = var.dlq
}

sink "stdout" "attribute" {
  inputs      = [source.s]
  on_error    = "retry"
  dead_letter = sink.dlq.path
}

sink "stdout" "list" {
  inputs      = [source.s]
  dead_letter = [sink.dlq]
}

sink "stdout" "dlq" {}
