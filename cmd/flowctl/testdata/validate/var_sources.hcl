# Values from FLOWCTL_VAR_, -var-file and -var, in rising precedence.
variable "count" {
  type = number
}
variable "type" {
  type = string
}
variable "tags" {
  type = list(string)
}
source "generator" "ticks" {
  count = var.count
  type  = var.type
}
sink "discard" "null" {
  inputs = [source.ticks]
}
