"""`dockyard compose ...`: registers the compose commands (dockyard.compose.cli) in the CLI."""

from __future__ import annotations


def register(cli) -> None:  # type: ignore[no-untyped-def]
    from dockyard.cli.main import _Parser
    from dockyard.compose.cli import add_compose

    add_compose(cli.top, parser_class=_Parser)
