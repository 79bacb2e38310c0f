source "generator" "s" {}

# Declared before the components that dead-letter into it, and with no
# inputs: a dead-letter sink needs none.
sink "file" "failed" {}

processor "transform" "tag" {
  inputs      = [source.s]
  on_error    = "retry"
  dead_letter = sink.failed
}

sink "file" "out" {
  inputs      = [processor.tag]
  dead_letter = sink.failed
}

sink "file" "archive" {
  inputs      = [source.s]
  dead_letter = sink.audit
}

# A dead-letter sink that also reads inputs.
sink "file" "audit" {
  inputs = [source.s]
}
