# Every bad expression is reported at once, each at its own attribute.
source "generator" "ticks" {
  count = 10
}

processor "cel" "tag" {
  inputs = [source.ticks]
  filter = "id + 1"
  set = {
    parity = "data.seq % 2 == 0 ? 'even' : 'odd'"
    twice  = "data.seq * 2 +"
  }
}

sink "discard" "null" {
  inputs = [processor.tag]
}
