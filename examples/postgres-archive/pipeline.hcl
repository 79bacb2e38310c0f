# generator → cel → postgres: synthetic orders, every tenth one dropped and
# the rest tagged, upserted into a PostgreSQL table one row per event id.

variable "database_url" {
  type        = string
  sensitive   = true
  description = "PostgreSQL connection string, e.g. postgres://flowctl:flowctl@127.0.0.1:5432/flowctl"
}

variable "count" {
  type    = number
  default = 10000
}

variable "rate" {
  type        = number
  default     = 0
  description = "Events per second; 0 is as fast as PostgreSQL takes them."
}

variable "table" {
  type    = string
  default = "orders"
}

pipeline "postgres-archive" {
  description = "synthetic orders archived in PostgreSQL"
}

source "generator" "orders" {
  count        = var.count
  rate         = var.rate
  type         = "order.created"
  payload_size = 64
  batch {
    size = 500 # rows per transaction
  }
}

processor "cel" "pick" {
  inputs = [source.orders]
  filter = "data.seq % 10 != 0"
  set = {
    parity = "data.seq % 2 == 0 ? 'even' : 'odd'"
    batch  = "string(data.seq / 1000)"
  }
}

sink "postgres" "archive" {
  inputs     = [processor.pick]
  connection = var.database_url
  table      = var.table
}
