locals {
  a      = local.b
  b      = "${local.a}-x"
  prefix = upper(local.missing)
  ok     = format("%s-%d", var.name, 3)
}
variable "name" {
  default = "ticks"
}
source "generator" "ticks" {
  id_prefix = local.ok
  type      = local.a
}
sink "discard" "null" {
  inputs = [source.ticks]
}
