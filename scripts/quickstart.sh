#!/bin/sh
# Sets up DEFUSE and runs the built-in example (examples/untar-and-hash.sh).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec ./examples/untar-and-hash.sh
