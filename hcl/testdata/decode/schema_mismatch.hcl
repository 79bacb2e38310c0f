sink "file" "out" {
  inputs = [source.ticks]
  path   = "out.jsonl"
  retry {
    attempts = 3
  }
}
