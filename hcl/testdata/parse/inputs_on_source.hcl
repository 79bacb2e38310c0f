source "generator" "a" {}

source "generator" "b" {
  inputs = [source.a]
}
