source "generator" "ticks" {
  count = 10 +
}
