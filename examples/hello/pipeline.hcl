# generator → transform → file: the smallest real pipeline.
#
#   bin/flowctl apply examples/hello/pipeline.hcl
#   bin/flowctl apply -var count=100000 -var output=/tmp/x.jsonl examples/hello/pipeline.hcl

variable "count" {
  type        = number
  default     = 1000
  description = "How many events the generator emits."
}

variable "output" {
  type        = string
  default     = "out.jsonl"
  description = "Where the file sink writes; relative paths are relative to this file."
}

pipeline "hello" {
  description = "ticks, tagged, to a JSON lines file"
}

source "generator" "ticks" {
  count = var.count
}

processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { env = "dev", pipeline = "hello" }
}

sink "file" "out" {
  inputs = [processor.tag]
  path   = var.output
}
