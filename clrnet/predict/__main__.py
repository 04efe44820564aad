"""``python -m clrnet.predict``: see :mod:`clrnet.predict`."""

import sys

from clrnet.predict.cli import main

sys.exit(main())
