# generator -> pyenrich (a processor written in Python) -> file. See
# README.md for how the plugin is built, installed and locked before this
# runs.

flowctl {
  required_plugins {
    pyenrich = { source = "example.com/acme/pyenrich", version = "~> 1.0" }
  }
}

variable "count" {
  type    = number
  default = 1000
}

pipeline "python" {
  description = "generated events, enriched by a plugin written in Python"
}

source "generator" "ticks" {
  count = var.count
}

processor "pyenrich" "enrich" {
  inputs     = [source.ticks]
  field      = "enriched_by"
  value      = "python"
  attributes = { language = "python" }
}

sink "file" "out" {
  inputs = [processor.enrich]
  path   = "out.jsonl"
}
