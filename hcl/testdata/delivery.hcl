source "generator" "ticks" {
  restart {
    attempts = 0
  }
}

source "generator" "tocks" {}

pipeline "delivery" {
  shutdown_timeout = "1m30s"
  restart {
    attempts = 5
    delay    = "2s"
  }
}

processor "transform" "tag" {
  inputs   = [source.ticks, source.tocks]
  on_error = "retry"
  retry {
    attempts  = 10
    delay     = "250ms"
    max_delay = "10s"
  }
  dead_letter = sink.failed
  set         = { env = "dev" }
}

processor "transform" "plain" {
  inputs   = [source.tocks]
  on_error = "retry"
  restart {
    delay = "1m"
  }
}

sink "file" "out" {
  inputs      = [processor.tag, processor.plain]
  dead_letter = sink.failed
  path        = "out.jsonl"
}

sink "file" "failed" {
  on_error = "fail"
  path     = "failed.jsonl"
}
