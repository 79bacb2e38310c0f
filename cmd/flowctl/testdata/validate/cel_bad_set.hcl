# An error in one of set's expressions points at that expression.
source "generator" "ticks" {
  count = 10
}

processor "cel" "tag" {
  inputs = [source.ticks]
  set = {
    parity = "data.seq % 2 == 0 ? 'even' : 'odd'"
    twice  = "data.seq * 2 +"
  }
}

sink "discard" "null" {
  inputs = [processor.tag]
}
