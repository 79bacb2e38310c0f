source "generator" "g" {
  count = 1
}
