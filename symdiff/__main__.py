"""``python -m symdiff``: the command-line tool (see ``symdiff.cli``)."""
import sys

from .cli import main

sys.exit(main())
