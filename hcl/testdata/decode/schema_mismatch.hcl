sink "file" "out" {
  inputs = [source.ticks]
  path   = "out.jsonl"
  compression {
    level = 3
  }
}
