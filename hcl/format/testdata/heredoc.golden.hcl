processor "transform" "t" {
  inputs  = [source.g]
  drop_if = <<EOT
attributes.env == "dev"   


   indented
EOT
}
