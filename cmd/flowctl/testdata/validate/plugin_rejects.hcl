# The schema accepts payload_size (a number); only the generator knows it
# must be 0 or at least 36, and validate asks it.
source "generator" "ticks" {
  count        = 10
  payload_size = 12
}

sink "discard" "null" {
  inputs = [source.ticks]
}
