"""Allows ``python -m edgepose``."""

import sys

from edgepose.cli import main

sys.exit(main())
