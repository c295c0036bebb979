"""Python benchmarks against concurrent.futures and dask.distributed.

The cases live in the package (dftracer.utils.benchmarks) so that an
installed wheel can run them as ``python -m dftracer.utils bench``; this
script is the same entry point from a source checkout:

    python bench/python/run_benchmarks.py [--quick] [--threads N] [--json FILE]
"""

import sys

from dftracer.utils.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
