source "generator" "a" {
  restart {
    attempts = 1.5
    delay    = "0s"
  }
}

source "generator" "b" {
  restart {
    delay     = "10s"
    max_delay = "5s"
  }
  restart {
    attempts = 1
  }
}

processor "transform" "c" {
  inputs = [source.a, source.b]
  restart {
    attempts  = var.attempts
    max_delay = "-1s"
    jitter    = true
  }
}

sink "stdout" "d" {
  inputs = [processor.c]
  restart {
    attempts = 3000000000
    delay    = 5
  }
}
