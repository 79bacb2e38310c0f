source "generator" "ticks" {
  count = 10
}

# A sink may share a name with a source: addresses differ by kind.
sink "file" "ticks" {
  inputs = [source.ticks]
}

source "generator" "ticks" {
  count = 20
}
