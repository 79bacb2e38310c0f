variable "home" {
  default = try(env("FLOWCTL_TEST_UNSET_VARIABLE"), "/nowhere")
}
variable "user" {
  default = env("FLOWCTL_TEST_UNSET_VARIABLE")
}
source "generator" "ticks" {
  type = var.home
}
sink "discard" "null" {
  inputs = [source.ticks]
}
