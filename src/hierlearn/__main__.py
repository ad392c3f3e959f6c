"""``python -m hierlearn``: the command line (see `hierlearn.cli`)."""

import sys

from hierlearn.cli import main

sys.exit(main())
