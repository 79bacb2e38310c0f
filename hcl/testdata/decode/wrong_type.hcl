sink "file" "out" {
  inputs    = [source.ticks]
  path      = "out.jsonl"
  append    = "yes please"
  max_bytes = "lots"
  fields    = "a,b"
  headers   = { env = ["dev"] }
}
