"""``python -m kubetriage``."""

from kubetriage.cli import main

main()
