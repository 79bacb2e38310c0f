pipeline "p" {
  shutdown_timeout = "0s"
  restart {
    attempts  = -1
    delay     = "fast"
    max_delay = var.max
  }
  restart {}
}

source "generator" "a" {}
