source "generator" "ticks" {}

sink "file" "archive" {
  inputs = [source.ticks]
}

processor "transform" "tag" {
  inputs = [source.ticks]
}

sink "stdout" "console" {
  inputs = [source.ticks]
}

sink "file" "tagged" {
  inputs = [processor.tag]
}
