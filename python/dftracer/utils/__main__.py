"""Entry point of ``python -m dftracer.utils`` (see cli.py)."""

import sys

from dftracer.utils.cli import main

sys.exit(main())
