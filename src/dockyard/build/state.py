"""What a build works with: its options, the engine's services, and the state of a stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.build.buildargs import BuildArgs
from dockyard.build.cache import BuildCache
from dockyard.build.imageconfig import DEFAULT_SHELL
from dockyard.dockerfile.parser import Stage
from dockyard.errors import InvalidParameter
from dockyard.images.service import Image


class BuildError(InvalidParameter):
    """A build that cannot go on (Docker's words in the message)."""


@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    buildargs: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    nocache: bool = False
    pull: bool = False
    rm: bool = True
    forcerm: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    networkmode: str = "default"
    platform: str | None = None
    cachefrom: list[str] = field(default_factory=list)
    registry_auth: dict[str, dict] = field(default_factory=dict)  # X-Registry-Config


@dataclass
class StageState:
    """What a stage has built so far."""

    stage: Stage
    args: BuildArgs
    image_id: str = ""  # "" before the first step of a stage FROM scratch
    doc: dict[str, Any] = field(default_factory=dict)  # the image config document
    run: dict[str, Any] = field(default_factory=dict)  # its "config" (container.Config)
    cmd_set: bool = False

    @property
    def shell(self) -> list[str]:
        return list(self.run.get("Shell") or DEFAULT_SHELL)

    def env(self) -> dict[str, str]:
        return self.args.substitution_env(self.run.get("Env") or [])


@dataclass
class Engine:
    """The services a build uses."""

    images: Any
    snapshots: Any
    containers: Any
    cache: BuildCache
    pull: Callable[[str, str | None, dict[str, dict]], Image] | None = None
