locals {
  prefix = "${lower(var.env)}-${local.base}"
  base   = join("-", ["evt", tostring(var.count)])
}
variable "env" {
  default = "DEV"
}
variable "count" {
  type    = number
  default = 5
}
source "generator" "ticks" {
  count     = var.count * 2
  id_prefix = local.prefix
}
sink "discard" "null" {
  inputs = [source.ticks]
}
