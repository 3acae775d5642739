#!/bin/sh
# Remove what a virtual environment in an image never runs:
# - the dependencies' own test suites (`tests` packages: about 130 MB across scipy, pandas, scikit-learn, numpy,
#   pyarrow, matplotlib), with their bytecode;
# - C headers and Cython sources, which only building an extension reads (numpy's and pyarrow's `include`, *.pyx, *.pxd);
# - pyarrow's Flight RPC (about 35 MB), which only `import pyarrow.flight` loads: the project reads and writes
#   Parquet and never speaks Flight.
# Usage: slim-venv.sh VENV
set -eu
for site in "$1"/lib/python3*/site-packages; do
  find "$site" -mindepth 2 -depth -type d -name tests -exec rm -rf {} +
  find "$site" -mindepth 2 -depth -type d -name include \( -path '*/pyarrow/*' -o -path '*/numpy/*' \) -exec rm -rf {} +
  find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \) -delete
  if [ -d "$site/pyarrow" ]; then
    rm -f "$site"/pyarrow/libarrow_flight.so* "$site"/pyarrow/libarrow_python_flight.so* "$site"/pyarrow/_flight*.so
  fi
done
