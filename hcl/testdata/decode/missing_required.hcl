sink "file" "a" {
  inputs = [source.ticks]
  format = "json"
}

sink "file" "b" {
  inputs = [source.ticks]
  path   = null
}
