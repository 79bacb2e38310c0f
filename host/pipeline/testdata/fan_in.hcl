source "generator" "a" {}

source "generator" "b" {}

processor "transform" "merge" {
  inputs = [source.b, source.a]
}

sink "stdout" "out" {
  inputs = [processor.merge, source.a]
}
