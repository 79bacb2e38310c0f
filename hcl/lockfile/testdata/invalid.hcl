plugin "example.com/acme/upper" {
  version     = "1.0"
  constraints = "~> one"
  hashes = [
    "h1:abc=",
    "sha256:def",
  ]
}

plugin "example.com/acme/stamp" {
  version = var.v
  hashes  = "h1:abc="
}

plugin "example.com/acme/upper" {
  version = "1.1.0"
  hashes  = ["h1:abc="]
}

plugin "example.com/acme/shout" {
  hashes = ["h1:abc="]
}
