"""The ``berth`` command's entry point, kept free of imports on purpose.

Model processes start with the spawn method, which runs the parent's main script again in
the child. For ``berth serve`` that script is the ``berth`` command; pointing it here rather
than at :mod:`berth.cli.main` keeps the whole CLI (typer, rich, the API, the SQL store: about
50 MiB) out of every model process.
"""

from __future__ import annotations


def main() -> None:
    """Run the ``berth`` command."""
    from berth.cli.main import main as run

    run()
