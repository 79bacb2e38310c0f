variable "tags" {
  default = ["x", "y"]
}

sink "file" "out" {
  inputs  = [source.ticks]
  path    = "/no/such/dir/out.jsonl"
  fields  = ["id", "tim"]
  headers = {
    env    = "dev"
    "team" = "data"
  }
  labels  = var.tags
}
