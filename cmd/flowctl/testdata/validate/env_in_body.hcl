variable "home" {
  default = try(env("FLOWCTL_TEST_UNSET_VARIABLE"), "/nowhere")
}
source "generator" "ticks" {
  id_prefix = env("HOME")
  type      = var.home
}
sink "discard" "null" {
  inputs = [source.ticks]
}
