"""Build arguments with the classic builder's rules.

- `--build-arg` values (`options`) override the defaults of declared ARGs; a value of None
  (a `--build-arg NAME` whose client-side variable was unset) counts as not given.
- ARGs before the first FROM are meta arguments: they are expanded in FROM lines only, and a
  stage sees one only after re-declaring it (`ARG NAME` without a value takes the meta value).
- Inside a stage, an ARG is in effect from its declaration to the end of that stage.
- The predefined proxy arguments (HTTP_PROXY, ...) reach RUN without a declaration, but are
  kept out of the image history unless declared.
- ENV wins over an ARG of the same name.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

PREDEFINED = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def env_map(env: Iterable[str]) -> dict[str, str]:
    """A KEY=VALUE list as a dict (a later entry wins, as for a process environment)."""
    out: dict[str, str] = {}
    for entry in env:
        key, _, value = entry.partition("=")
        out[key] = value
    return out


class BuildArgs:
    """The build arguments of one build; `for_stage()` gives the fresh scope of a stage."""

    def __init__(self, options: dict[str, str | None]) -> None:
        self.options = dict(options)
        self.meta: dict[str, str | None] = {}
        self.declared: dict[str, str | None] = {}  # this stage's ARGs -> default
        self.referenced: set[str] = set()  # every ARG name declared anywhere (shared)

    def for_stage(self) -> BuildArgs:
        stage = copy.copy(self)
        stage.declared = {}
        return stage

    def _given(self, name: str) -> str | None:
        return self.options.get(name)

    def add_meta(self, name: str, default: str | None) -> None:
        self.referenced.add(name)
        given = self._given(name)
        self.meta[name] = given if given is not None else default

    def declare(self, name: str, default: str | None) -> None:
        """ARG NAME[=default] in a stage (default already expanded)."""
        self.referenced.add(name)
        if default is None and name in self.meta:
            default = self.meta[name]
        self.declared[name] = default

    def value(self, name: str) -> str | None:
        """The value a declared ARG has (None: declared without a value)."""
        given = self._given(name)
        if given is not None:
            return given
        return self.declared.get(name)

    def meta_values(self) -> dict[str, str]:
        return {k: v for k, v in self.meta.items() if v is not None}

    def in_effect(self, env: Iterable[str]) -> dict[str, str]:
        """Declared ARGs with a value that no ENV overrides (for substitution and history)."""
        config_env = env_map(env)
        out: dict[str, str] = {}
        for name in self.declared:
            value = self.value(name)
            if value is not None and name not in config_env:
                out[name] = value
        return out

    def run_env(self, env: Iterable[str]) -> dict[str, str]:
        """What a RUN sees besides ENV: the ARGs in effect and any given proxy argument."""
        env = list(env)
        out = self.in_effect(env)
        config_env = env_map(env)
        for name in PREDEFINED:
            given = self._given(name)
            if given is not None and name not in config_env and name not in out:
                out[name] = given
        return out

    def substitution_env(self, env: Iterable[str]) -> dict[str, str]:
        """The environment for substituting variables in an instruction: ENV, then ARGs."""
        env = list(env)
        out = self.in_effect(env)
        out.update(env_map(env))
        return out

    def unconsumed(self) -> list[str]:
        """--build-arg names no ARG declared (Docker warns about them)."""
        return sorted(
            name for name in self.options if name not in self.referenced and name not in PREDEFINED
        )
