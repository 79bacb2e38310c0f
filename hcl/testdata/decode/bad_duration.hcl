variable "flush" {
  default = "soon"
}

sink "file" "a" {
  inputs         = [source.ticks]
  path           = "a.jsonl"
  flush_interval = "1 minute"
}

sink "file" "b" {
  inputs         = [source.ticks]
  path           = "b.jsonl"
  flush_interval = var.flush
}
