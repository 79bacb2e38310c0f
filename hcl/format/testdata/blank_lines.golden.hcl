pipeline "p" {
  description = "x"

  restart {
    attempts = 3
  }
}

sink "discard" "d" {
  inputs = [source.g]
}
