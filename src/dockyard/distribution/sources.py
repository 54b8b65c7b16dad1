"""Where each blob came from: `registry/repository` names per digest, for push mounts.

When a push meets a blob that was pulled from (or pushed to) another repository of the same
registry, it asks the registry to mount it instead of uploading it again, as Docker does
with its v2 metadata. Stored as one small JSON file per digest, written atomically.
"""

from __future__ import annotations

import os

from ..fsutil import read_json, write_json

MAX_SOURCES = 10


class BlobSources:
    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)

    @classmethod
    def beside(cls, content_root: str) -> BlobSources:
        """The record kept next to a content store: DATA_ROOT/distribution/sources."""
        parent = os.path.dirname(os.path.abspath(content_root))
        return cls(os.path.join(parent, "distribution", "sources"))

    def _path(self, digest: str) -> str:
        return os.path.join(self.root, digest.replace(":", "-") + ".json")

    def get(self, digest: str) -> list[str]:
        try:
            value = read_json(self._path(digest))
            return [s for s in value if isinstance(s, str)]
        except (FileNotFoundError, ValueError, TypeError):
            return []

    def add(self, digest: str, registry: str, repository: str) -> None:
        entry = f"{registry}/{repository}"
        current = self.get(digest)
        if current and current[0] == entry:
            return
        updated = [entry] + [s for s in current if s != entry]
        write_json(self._path(digest), updated[:MAX_SOURCES])

    def in_registry(self, digest: str, registry: str) -> list[str]:
        """The repositories of `registry` known to hold `digest`, most recent first."""
        prefix = registry + "/"
        return [s[len(prefix) :] for s in self.get(digest) if s.startswith(prefix)]
