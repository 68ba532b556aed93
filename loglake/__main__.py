"""`python -m loglake …` runs the command line (the same as the `loglake` script)."""

from loglake.cli import main

main()
