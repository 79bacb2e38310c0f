source "generator" "ticks" {
  count = 5
}
