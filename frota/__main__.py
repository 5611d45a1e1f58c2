"""`python -m frota`: the `frota` command, where its script is not on PATH."""

from frota.cli import main

main()
