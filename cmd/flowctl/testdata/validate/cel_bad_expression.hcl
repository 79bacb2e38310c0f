# The cel processor compiles its expressions when the pipeline is checked:
# a mistake is reported at the expression, with where inside it.
source "generator" "ticks" {
  count = 10
}

processor "cel" "pick" {
  inputs = [source.ticks]
  filter = "data.seq % 2 == 0 && atributes.env == 'dev'"
}

sink "discard" "null" {
  inputs = [processor.pick]
}
