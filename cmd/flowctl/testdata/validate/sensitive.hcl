variable "token" {
  type      = number
  sensitive = true
}
variable "linger" {
  type      = string
  sensitive = true
  default   = "soon"
}
variable "secret_rate" {
  sensitive = true
  default   = "fast"
  validation {
    condition     = can(tonumber(var.secret_rate))
    error_message = "secret_rate must be a number, not ${var.secret_rate}."
  }
}
source "generator" "ticks" {
  count = var.token
}
sink "discard" "null" {
  inputs = [source.ticks]
}
