#!/bin/sh
# Remove what a virtual environment in an image never runs: the dependencies' own test suites
# (`tests` packages: about 130 MB across scipy, pandas, scikit-learn, numpy, pyarrow, matplotlib),
# with their bytecode. Usage: slim-venv.sh VENV
set -eu
for site in "$1"/lib/python3*/site-packages; do
  find "$site" -mindepth 2 -depth -type d -name tests -exec rm -rf {} +
done
