"""``leadwise`` command line. Each module below registers its commands on the shared Typer app."""

from leadwise.cli import (
    loop_commands,  # noqa: F401  (registers export, ope)
    marketing_commands,  # noqa: F401  (registers attribution)
    report_commands,  # noqa: F401  (registers report)
    routing_commands,  # noqa: F401  (registers simulate, flow-check)
    service_commands,  # noqa: F401  (registers serve, db, reps, keys, sweep)
    training_commands,  # noqa: F401  (registers train, score)
    world_commands,  # noqa: F401  (registers synth, evaluate)
)
from leadwise.cli.app import app

__all__ = ["app"]
