sink "file" "out" {
  inputs = [source.ticks]
  pathh  = "out.jsonl"
}
