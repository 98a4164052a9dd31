"""The one command, ``leakwarden``, with a sub-command per capability.

Heavy libraries (Hyperscan, SQLAlchemy, Dask) are imported inside each command so that
``leakwarden --help`` stays instant.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="leakwarden",
    help="Find, protect, gate, audit, monitor and trace customers' personal information.",
    no_args_is_help=True,
    add_completion=False,
)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
