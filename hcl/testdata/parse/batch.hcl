source "generator" "a" {
  batch {
    size   = 0
    linger = "soon"
  }
}

source "generator" "b" {
  batch {
    size = 2.5
  }
  batch {}
}

source "generator" "c" {
  batch {
    size = var.size
  }
}

sink "stdout" "out" {
  inputs = [source.a]
  batch {
    size = 10
  }
}
