"""`python -m lvstop`."""

import sys

from lvstop.cli import main

sys.exit(main())
