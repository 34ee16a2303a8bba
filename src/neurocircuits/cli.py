"""The ``neurocircuits`` command. It only wires sub-packages together: each command parses its
options and calls the public API of one sub-package."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Build, simulate, train and dissect neural circuits.")
console = Console()


@app.command()
def zoo(family: str = typer.Option(None, help="Only models of this family.")) -> None:
    """List the registered models."""
    from .models import MODELS, list_models

    table = Table("model", "family", "paper")
    for name in list_models(family):
        meta = MODELS.meta(name)
        table.add_row(name, str(meta.get("family", "")), str(meta.get("paper", "")))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
