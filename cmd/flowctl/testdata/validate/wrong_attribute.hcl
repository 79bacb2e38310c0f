source "generator" "ticks" {
  count        = 10
  payload_sise = 64
}
sink "file" "out" {
  inputs = [source.ticks]
  path   = true
  fsync  = "sometimes"
}
