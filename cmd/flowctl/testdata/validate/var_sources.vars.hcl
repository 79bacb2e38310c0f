type  = "from-file"
tags  = "not a list"
colur = "blue"
