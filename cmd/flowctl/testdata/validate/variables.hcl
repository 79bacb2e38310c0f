variable "count" {
  type = number
}
source "generator" "ticks" {
  count = var.count
  rate  = var.rate
}
sink "discard" "null" {
  inputs = [source.ticks]
}
