# http source → nats: an HTTP endpoint that answers a sender only once its
# events are stored in JetStream, so a sender that gets an error retries and
# nothing is lost. Event ids are JetStream message ids: a retried request is
# stored once.

variable "listen" {
  type    = string
  default = "127.0.0.1:8080"
}

variable "token" {
  type        = string
  sensitive   = true
  default     = ""
  description = "When set, senders must send Authorization: Bearer <token>."
}

variable "ack_timeout" {
  type    = string
  default = "10s"
}

variable "nats_url" {
  type    = string
  default = "nats://127.0.0.1:4222"
}

pipeline "webhook-relay" {
  description = "webhooks into JetStream"
}

source "http" "in" {
  address     = var.listen
  path        = "/events"
  auth_token  = var.token
  ack_timeout = var.ack_timeout
}

sink "nats" "out" {
  inputs          = [source.in]
  url             = var.nats_url
  subject         = "webhooks.events"
  stream          = "WEBHOOKS"
  publish_timeout = "5s"
  # While NATS is away, keep trying: senders get 503 and retry meanwhile.
  on_error = "retry"
  retry {
    attempts  = 100
    delay     = "500ms"
    max_delay = "5s"
  }
  restart {
    attempts = 10
    delay    = "1s"
  }
}
