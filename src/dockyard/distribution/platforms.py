"""The choice of a manifest out of an index for a platform, on registry descriptors.

Platforms and their matching rules are images/manifest.py's, so load, build and pull agree.
"""

from __future__ import annotations

from ..errors import NotFound
from ..images.manifest import Platform, best_platform, default_platform, no_match_message
from ..images.manifest import parse_platform as parse_platform
from .mediatypes import Descriptor

__all__ = ["Platform", "default_platform", "parse_platform", "select"]


def select(entries: tuple[Descriptor, ...], wanted: Platform) -> Descriptor:
    """The entry of an index that matches `wanted`, as Docker chooses it."""
    pos = best_platform([e.platform for e in entries], wanted)
    if pos is None:
        raise NotFound(no_match_message(wanted))
    return entries[pos]
