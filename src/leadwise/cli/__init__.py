"""``leadwise`` command line. Each module below registers its commands on the shared Typer app."""

from leadwise.cli import training_commands  # noqa: F401  (registers train, score)
from leadwise.cli.app import app

__all__ = ["app"]
