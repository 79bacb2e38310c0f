pipeline "drivers" {
  driver "docker" {
    image   = "flowctl:test"
    env     = { MODE = "test" }
    mounts  = ["./out:/out", "/etc/hosts:/etc/hosts:ro"]
    network = "flowctl-test"
    cpu     = 0.5
    memory  = "256MiB"
  }
}

source "generator" "ticks" {
  driver "process" {}
}

processor "transform" "tag" {
  inputs = [source.ticks]
}

sink "stdout" "out" {
  inputs = [processor.tag]
  driver "kubernetes" {
    namespace         = "flowctl"
    image             = "flowctl-plugin/stdout:1"
    image_pull_policy = "Never"
    resources         = { cpu = "250m", memory = "64Mi" }
    labels            = { team = "data" }
    service_account   = "runner"
    kubeconfig        = "/tmp/kubeconfig"
  }
}
