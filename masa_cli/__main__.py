"""`python -m masa_cli` runs the `masa` command."""

from masa_cli.app import main

main()
