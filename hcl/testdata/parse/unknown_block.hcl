sourse "generator" "ticks" {
  count = 10
}

sink "file" "out" {
  inputs = [source.ticks]
}
