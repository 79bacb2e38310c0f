pipeline "one" {
  description = "first ${var.x}"
}

pipeline "two" {
  description = "second"
}

sink "" "bad name!" {
  inputs = []
}
