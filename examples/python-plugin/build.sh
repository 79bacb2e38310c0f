#!/usr/bin/env bash
# Builds the pyenrich plugin binary: generates the Python protobuf and gRPC
# code of the flowctl plugin protocol (proto/flowctl/v1/plugin.proto) and
# packs it with the sources in plugin/ into one executable zip file, a Python
# zipapp whose first line runs the interpreter that has grpcio installed.
#
#   ./build.sh [OUTPUT]    default: dist/flowctl-plugin-pyenrich
#
# Needs protoc (Debian: protobuf-compiler), grpc_python_plugin
# (protobuf-compiler-grpc) and a Python 3 with grpcio and protobuf
# (python3-grpcio, python3-protobuf); PYTHON names it, default
# /usr/bin/python3, where Debian's packages install. The generated code is
# not committed: it is made here, from the protocol of this checkout
# (PROTO_DIR overrides where that is).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto=${PROTO_DIR:-$here/../../proto}
out=${1:-$here/dist/flowctl-plugin-pyenrich}
python=${PYTHON:-/usr/bin/python3}

missing=()
command -v protoc >/dev/null || missing+=("protoc (apt-get install protobuf-compiler)")
command -v grpc_python_plugin >/dev/null || missing+=("grpc_python_plugin (apt-get install protobuf-compiler-grpc)")
"$python" -c 'import grpc, google.protobuf' 2>/dev/null || missing+=("grpcio and protobuf for $python (apt-get install python3-grpcio python3-protobuf)")
if [ "${#missing[@]}" -gt 0 ]; then
  printf 'build.sh: missing %s\n' "${missing[@]}" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
protoc --proto_path="$proto" \
  --python_out="$stage" \
  --grpc_out="$stage" --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
  flowctl/v1/plugin.proto
touch "$stage/flowctl/__init__.py" "$stage/flowctl/v1/__init__.py"
cp "$here"/plugin/*.py "$stage/"
# Fixed timestamps: the same sources and protocol make the same bytes, so
# the lock file's hash of a rebuilt plugin does not change.
find "$stage" -exec touch -h -t 198001010000 {} +
mkdir -p "$(dirname "$out")"
"$python" -m zipapp "$stage" --python "$python" --output "$out"
chmod 0755 "$out"
echo "built $out"
