source "generator" "ticks" {}

processor "transform" "tag" {
  inputs = [source.ticks]
}

sink "file" "out" {
  path = "out.jsonl"
}

sink "file" "empty" {
  inputs = []
}

sink "file" "used" {
  inputs = [processor.tag]
}
