"""``mailward`` with the test line protocol registered: run as ``python -m support.mailward_line``."""

from __future__ import annotations

import sys

from mailward.cli.main import main
from support import lineproto

if __name__ == "__main__":
    lineproto.register()
    sys.exit(main(sys.argv[1:]))
