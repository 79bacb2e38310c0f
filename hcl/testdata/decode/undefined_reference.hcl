variable "output" {
  default = "out.jsonl"
}

sink "file" "out" {
  inputs = [source.ticks]
  path   = var.ouput
  format = lower(local.format)
}

sink "file" "other" {
  inputs = [source.ticks]
  path   = "${var.dir}/other.jsonl"
}
