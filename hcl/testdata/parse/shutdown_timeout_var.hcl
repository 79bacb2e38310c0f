variable "timeout" {
  default = "10s"
}

pipeline "p" {
  shutdown_timeout = var.timeout
}
