flowctl {
  required_plugins {
    upper  = { source = "example.com/acme/upper", version = "~> one" }
    lower  = { version = "1.0.0" }
    stamp  = { source = "example.com/acme/stamp", verison = "1.0.0" }
    file   = { source = "flowctl/file" }
    shout  = "example.com/acme/shout"
  }
}
flowctl {
}
source "generator" "ticks" {
}
sink "discard" "null" {
  inputs = [source.ticks]
}
