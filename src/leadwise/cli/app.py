"""The Typer application every command module registers on, and the one way a command fails."""

from __future__ import annotations

import logging
from typing import NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    name="leadwise",
    help="ML-driven lead scoring and routing for B2B sales teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
error_console = Console(stderr=True, soft_wrap=True)

# Exit status for bad input (data, config, arguments): distinct from 1, an unexpected failure.
BAD_INPUT_EXIT_CODE = 2


@app.callback()
def main() -> None:
    """ML-driven lead scoring and routing for B2B sales teams."""
    # MLflow narrates every registration at INFO and warns about pickled pyfunc models (ours are
    # ours to load); the commands print their own summary instead.
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def fail(message: str) -> NoReturn:
    """End the command with one line on stderr and exit status 2."""
    error_console.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(BAD_INPUT_EXIT_CODE)
