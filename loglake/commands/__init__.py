"""More `loglake` subcommands, one module per area.

Each module exposes `register(app: typer.Typer) -> None`, which adds its commands; `loglake.cli`
calls every module's `register` when it builds the command line.
"""
