source "generator" "s" {}

processor "transform" "typo" {
  inputs   = [source.s]
  on_error = "retyr"
}

processor "transform" "variable" {
  inputs   = [source.s]
  on_error = var.mode
}

processor "transform" "no_sink" {
  inputs   = [source.s]
  on_error = "dead_letter"
}

processor "transform" "useless" {
  inputs      = [source.s]
  on_error    = "fail"
  dead_letter = sink.dlq
}

sink "stdout" "default_mode" {
  inputs = [source.s]
  retry {
    attempts = 2
  }
}

sink "stdout" "inferred_mode" {
  inputs      = [source.s]
  dead_letter = sink.dlq
  retry {}
}

sink "stdout" "retries" {
  inputs   = [source.s]
  on_error = "retry"
  retry {
    attempts  = 0
    delay     = "1s"
    max_delay = "1ms"
  }
  retry {
    attempts = 2
  }
}

sink "stdout" "slow" {
  inputs   = [source.s]
  on_error = "retry"
  retry {
    delay = "0"
  }
}

sink "stdout" "dlq" {
  inputs   = [source.s]
  on_error = "fails"
  retry {}
}
