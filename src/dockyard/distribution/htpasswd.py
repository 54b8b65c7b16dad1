"""Basic-auth credentials from an htpasswd file, as the distribution registry reads it.

Entries are `user:hash`; bcrypt hashes (`$2y$`, `$2a$`, `$2b$`, what `htpasswd -B` writes)
are what Docker's registry supports. `{SHA}` entries are accepted too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import bcrypt


class Htpasswd:
    """The users of an htpasswd file; re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mtime: float | None = None
        self._entries: dict[str, str] = {}
        self._verified: dict[tuple[str, str], bool] = {}
        self._load()

    def _load(self) -> None:
        mtime = os.stat(self.path).st_mtime
        if mtime == self._mtime:
            return
        entries = {}
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#") or ":" not in line:
                    continue
                user, hashed = line.split(":", 1)
                entries[user] = hashed
        self._entries = entries
        self._verified = {}
        self._mtime = mtime

    def check(self, user: str, password: str) -> bool:
        """True when `password` is the password of `user`."""
        self._load()
        hashed = self._entries.get(user)
        if hashed is None:
            return False
        key = (user, hashlib.sha256(password.encode()).hexdigest())
        if key in self._verified:  # bcrypt is slow by design: remember recent answers
            return self._verified[key]
        ok = _verify(password, hashed)
        self._verified[key] = ok
        return ok


def _verify(password: str, hashed: str) -> bool:
    if hashed.startswith(("$2y$", "$2a$", "$2b$")):
        candidate = "$2b$" + hashed[4:]
        try:
            return bcrypt.checkpw(password.encode(), candidate.encode())
        except ValueError:
            return False
    if hashed.startswith("{SHA}"):
        digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
        return hmac.compare_digest(digest, hashed[5:])
    return False


def make_entry(user: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash, as `htpasswd -nbB user password` prints it."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{user}:$2y${hashed[4:]}"
