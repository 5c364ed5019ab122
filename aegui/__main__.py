"""``python -m aegui`` is the ``aegui`` command."""

import sys

from aegui.cli import main

if __name__ == "__main__":
    sys.exit(main())
