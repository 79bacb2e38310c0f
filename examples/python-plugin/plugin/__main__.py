"""flowctl-plugin-pyenrich: a flowctl processor plugin written in Python.

build.sh packs this directory, with the protobuf and gRPC code it generates
from proto/flowctl/v1/plugin.proto, into one executable zip file (a Python
zipapp): that file is the plugin binary flowctl installs, locks and starts.
"""

from protocol import Plugin, main

import pyenrich

if __name__ == "__main__":
    main(Plugin(name=pyenrich.NAME, version=pyenrich.VERSION, components=[pyenrich.COMPONENT]))
