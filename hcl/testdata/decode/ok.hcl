variable "output" {
  type    = string
  default = "out.jsonl"
}

sink "file" "out" {
  inputs         = [source.ticks]
  path           = upper(var.output)
  format         = null
  flush_interval = "1s"
  append         = true
  max_bytes      = 1024 * 1024
  fields         = ["a", "b"]
  headers        = { env = "dev" }
}
