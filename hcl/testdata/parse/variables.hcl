variable "count" {
  type    = number
  default = "many"
}

variable "count" {
  default = 1
}

variable "tags" {
  type = list(strin)
}

variable "9lives" {}

variable "sensitive_one" {
  sensitiv = true
}

variable "other" {
  default = var.count
}
