# Fills the ORDERS stream for the nats-bridge example: generator → nats.

variable "nats_url" {
  type    = string
  default = "nats://127.0.0.1:4222"
}

variable "count" {
  type    = number
  default = 1000
}

source "generator" "orders" {
  count        = var.count
  type         = "order.created"
  payload_size = 48
}

sink "nats" "orders" {
  inputs  = [source.orders]
  url     = var.nats_url
  subject = "orders.created"
  stream  = "ORDERS"
}
