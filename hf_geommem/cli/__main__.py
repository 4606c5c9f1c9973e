"""``python -m hf_geommem.cli``: the ``hf-geommem`` command."""

import sys

from . import main

sys.exit(main())
