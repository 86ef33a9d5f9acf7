"""``leadwise`` command line. Each module below registers its commands on the shared Typer app."""

from leadwise.cli import training_commands  # noqa: F401  (registers train, score)
from leadwise.cli import service_commands  # noqa: F401  (registers serve, db, reps, keys, sweep)
from leadwise.cli import world_commands  # noqa: F401  (registers synth, evaluate)
from leadwise.cli import marketing_commands  # noqa: F401  (registers attribution)
from leadwise.cli import routing_commands  # noqa: F401  (registers simulate, flow-check)
from leadwise.cli.app import app

__all__ = ["app"]
