# nats → cel → file and http: reads the ORDERS stream through a durable
# consumer, keeps the even orders, and writes them to a file and to a
# webhook. A message is acked to JetStream only once both sinks have it.

variable "nats_url" {
  type    = string
  default = "nats://127.0.0.1:4222"
}

variable "webhook_url" {
  type    = string
  default = "http://127.0.0.1:9000/events"
}

variable "webhook_token" {
  type      = string
  sensitive = true
  default   = "change-me"
}

variable "end_when_idle" {
  type        = string
  default     = "0s"
  description = "Stop once the stream has been drained for this long; 0s runs until Ctrl-C."
}

pipeline "nats-bridge" {
  description = "JetStream to a file and a webhook"
}

source "nats" "orders" {
  url           = var.nats_url
  stream        = "ORDERS"
  consumer      = "nats-bridge"
  ack_wait      = "30s"
  end_when_idle = var.end_when_idle
}

processor "cel" "even" {
  inputs = [source.orders]
  filter = "data.seq % 2 == 0"
  set = {
    subject = "type"
    size    = "data.seq < 1000 ? 'small' : 'large'"
  }
}

sink "file" "archive" {
  inputs = [processor.even]
  path   = "out.jsonl"
}

sink "http" "webhook" {
  inputs      = [processor.even]
  url         = var.webhook_url
  headers     = { Authorization = "Bearer ${var.webhook_token}" }
  max_retries = 10
}
