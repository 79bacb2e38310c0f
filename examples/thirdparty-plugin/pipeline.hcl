# generator -> upper (a third-party plugin) -> file, and the same events
# counted by tally, a second component of the same plugin binary. See
# README.md for how the plugin is built, installed and locked before this
# runs.

flowctl {
  required_plugins {
    # One entry for the binary; each component it serves ("upper",
    # "tally") is used under its own name.
    upper = { source = "example.com/acme/upper", version = "~> 1.0" }
  }
}

variable "count" {
  type    = number
  default = 100
}

pipeline "thirdparty" {
  description = "generated events, upper-cased by an installed plugin"
}

source "generator" "ticks" {
  count = var.count
}

processor "upper" "shout" {
  inputs = [source.ticks]
  mark   = "shouted_by"
}

sink "file" "out" {
  inputs = [processor.shout]
  path   = "out.jsonl"
}

sink "tally" "counts" {
  inputs = [processor.shout]
  path   = "counts.json"
}
