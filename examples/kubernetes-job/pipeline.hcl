pipeline "orders" {
  driver "kubernetes" {
    namespace = "pipelines"
    image     = "registry.example.com/flowctl:0.1.0"
  }
}

source "generator" "ticks" {
  count = 100000
  rate  = 1000
}

processor "transform" "tag" {
  inputs      = [source.ticks]
  parallelism = 2
  set         = { where = "cluster" }
}

sink "stdout" "out" {
  inputs = [processor.tag]
}
