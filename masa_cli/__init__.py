"""The `masa` command line (Typer). Heavy imports happen inside commands so `masa --help` is fast."""
