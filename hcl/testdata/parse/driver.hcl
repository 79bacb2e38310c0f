pipeline "drivers" {
  driver "dokker" {
    image = "x"
  }
}

source "generator" "a" {
  driver "docker" {
    memory    = "2k"
    cpu       = 0
    mounts    = ["data", "./in:relative", "./x:/x:rw", "./y:/y:bad"]
    namespace = "default"
  }
  driver "docker" {}
}

processor "transform" "b" {
  inputs = [source.a]
  driver "kubernetes" {
    namespace         = "Team_A"
    image_pull_policy = "never"
    resources         = { cpu = "lots", gpu = "1" }
    labels            = "team=a"
    image             = var.image
  }
}

sink "stdout" "c" {
  inputs = [processor.b]
  driver "kubernetes" {
    namespace = "default"
  }
}
