variable "count" {
  default = 3
}
sink "discard" "null" {
  inputs = [source.ticks]
}
