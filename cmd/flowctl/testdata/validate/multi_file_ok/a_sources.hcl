pipeline "split" {
  description = "a pipeline in two files"
}
source "generator" "ticks" {
  count = var.count
}
