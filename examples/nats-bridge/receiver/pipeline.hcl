# A webhook receiver for the nats-bridge example: http source → file.

variable "listen" {
  type    = string
  default = "127.0.0.1:9000"
}

variable "token" {
  type      = string
  sensitive = true
  default   = "change-me"
}

source "http" "webhook" {
  address    = var.listen
  path       = "/events"
  auth_token = var.token
}

sink "file" "received" {
  inputs = [source.webhook]
  path   = "out.jsonl"
}
