pipeline "empty" {
  description = "nothing yet"
}
