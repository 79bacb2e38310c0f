# Prints what the webhook-relay example stored: nats → stdout.

variable "nats_url" {
  type    = string
  default = "nats://127.0.0.1:4222"
}

source "nats" "stored" {
  url           = var.nats_url
  stream        = "WEBHOOKS"
  consumer      = "show"
  deliver       = "all"
  end_when_idle = "2s"
}

sink "stdout" "print" {
  inputs = [source.stored]
}
