"""The error every compose loading problem raises."""

from __future__ import annotations

from dockyard.errors import InvalidParameter


class ComposeError(InvalidParameter):
    """A compose file that cannot be loaded; the message names the file and the path."""
