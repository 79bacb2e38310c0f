source "generator" "ticks" {
  count = 10
}

source "generator" "forgotten" {
  count = 10
}

sink "discard" "out" {
  inputs = [source.ticks]
}
