"""The build endpoint: POST /build with a context tar, answered by a JSON message stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from dockyard.client.transport import Transport


class Build:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def build(
        self,
        context: BinaryIO | bytes,
        *,
        tags: list[str] | None = None,
        dockerfile: str | None = None,
        buildargs: dict[str, str | None] | None = None,
        target: str | None = None,
        nocache: bool = False,
        pull: bool = False,
        rm: bool = True,
        forcerm: bool = False,
        labels: dict[str, str] | None = None,
        networkmode: str | None = None,
        platform: str | None = None,
        cachefrom: list[str] | None = None,
        quiet: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """The build's messages ({"stream"}, {"aux"}, {"errorDetail", "error"}) as they come."""
        params: dict[str, Any] = {
            "t": list(tags or []),
            "dockerfile": dockerfile,
            "buildargs": json.dumps(buildargs) if buildargs else None,
            "target": target,
            "nocache": nocache or None,
            "pull": pull or None,
            "rm": rm,
            "forcerm": forcerm or None,
            "labels": json.dumps(labels) if labels else None,
            "networkmode": networkmode,
            "platform": platform,
            "cachefrom": json.dumps(cachefrom) if cachefrom else None,
            "q": quiet or None,
        }
        return self.t.json_lines("POST", "/build", params, body=context)
