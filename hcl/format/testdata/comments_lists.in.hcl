# leading comment

variable "x" {
  # inner comment
  default = 1 # trailing
}


// another
locals {
  a = [
  1,
      2,
  ]
  b = { k = "v",
  long_key = "w" }
}
