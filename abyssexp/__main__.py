"""``python -m abyssexp``."""

from abyssexp.cli.app import main

main()
