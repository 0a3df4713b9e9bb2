"""`python -m idpctl_emulator`: the same as `idpctl emulator`."""

import sys

from idpctl_emulator.cli import main

sys.exit(main(sys.argv[1:]))
