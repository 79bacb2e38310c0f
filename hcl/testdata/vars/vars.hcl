variable "count" {
  type    = number
  default = 1000
}

variable "output" {
  type    = string
  default = "out.jsonl"
}

variable "tags" {
  type = list(string)
}

variable "limits" {
  type    = map(number)
  default = { a = 1 }
}

variable "verbose" {
  type    = bool
  default = false
}

variable "anything" {
  default = "x"
}
