"""`python -m probe.cli`: the same as the `probe` command."""

from probe.cli.app import main

main()
