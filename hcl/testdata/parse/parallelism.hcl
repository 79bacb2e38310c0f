variable "n" {
  default = 2
}

source "generator" "s" {
  parallelism = 2
}

processor "transform" "zero" {
  inputs      = [source.s]
  parallelism = 0
}

processor "transform" "half" {
  inputs      = [processor.zero]
  parallelism = 1.5
}

processor "transform" "many" {
  inputs      = [processor.half]
  parallelism = 65
}

processor "transform" "var" {
  inputs      = [processor.many]
  parallelism = var.n
}

processor "transform" "alone" {
  inputs       = [processor.var]
  partition_by = "key"
}

sink "stdout" "bad_partition" {
  inputs       = [processor.alone]
  parallelism  = 3
  partition_by = "id"
}
