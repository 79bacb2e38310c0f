# Declared bottom-up: the order comes from the inputs, the file only breaks ties.
sink "stdout" "out" {
  inputs = [processor.right, processor.left]
}

sink "file" "audit" {
  inputs = [processor.right]
}

processor "transform" "right" {
  inputs = [source.s]
}

processor "transform" "left" {
  inputs = [source.s]
}

source "generator" "s" {}
