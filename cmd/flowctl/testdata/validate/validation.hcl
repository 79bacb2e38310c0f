variable "count" {
  type    = number
  default = 0
  validation {
    condition     = var.count > 0
    error_message = "count must be positive, not ${var.count}."
  }
}
variable "format" {
  type = string
  validation {
    condition     = contains(["json", "text"], var.format)
    error_message = "format is json or text."
  }
}
source "generator" "ticks" {
  count = var.count
}
sink "stdout" "out" {
  inputs = [source.ticks]
  format = var.format
}
