source "generator" "g" {
    count=10
  payload_size    = 100
      type = "tick"
}
