variable "count" {
  type        = number
  default     = 1000
  description = "How many events"
}
variable "output" {
  type    = string
  default = "out.jsonl"
}
variable "tags" {
  type = list(string)
}

pipeline "hello" {
  description = "ticks to a file"
}

source "generator" "ticks" {
  count = var.count
  batch {
    size   = 500
    linger = "5ms"
  }
}

source "generator" "tocks" {
  count = 3
}

processor "transform" "tag" {
  inputs = [source.ticks, source.tocks]
  set    = { env = "dev" }
}

sink "file" "out" {
  inputs = [processor.tag]
  path   = var.output
}
