source "generator" "s" {
  on_error = "retry"
  retry {
    attempts = 2
  }
  dead_letter = sink.out
  restart {
    attempts = 2
  }
}

sink "stdout" "out" {
  inputs = [source.s]
}
