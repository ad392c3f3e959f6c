"""``python -m hierlearn``: the command line (see :mod:`hierlearn.cli`)."""

import sys

from hierlearn.cli import main

sys.exit(main())
