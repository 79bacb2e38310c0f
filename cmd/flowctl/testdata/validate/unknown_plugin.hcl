source "kafka" "orders" {
  topic = "orders"
}
sink "discard" "null" {
  inputs = [source.orders]
}
