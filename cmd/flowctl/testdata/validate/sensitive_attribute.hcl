# A sensitive value that reaches a plugin attribute is not shown in errors.
variable "label" {
  sensitive = true
  default   = ["hunter2"]
}
source "generator" "ticks" {
  type = var.label
}
sink "discard" "null" {
  inputs = [source.ticks]
}
