"""The image config a build step writes, with Docker's classic builder's conventions.

- `container_config()`: the full `container.Config` shape (Docker writes every field).
- `go_quote` / `go_strings` / `go_values`: Go's `%q` and `%v` of string slices, which the
  classic builder uses in history lines (`/bin/sh -c #(nop)  CMD ["sh"]`).
- `update_env`: ENV replaces a variable in place or appends it.
- `parse_ports`: EXPOSE's port specs -> "80/tcp" keys (ranges expanded).
"""

from __future__ import annotations

import copy
from typing import Any

from dockyard.errors import InvalidParameter

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_CONFIG_FIELDS: tuple[tuple[str, Any], ...] = (
    ("Hostname", ""),
    ("Domainname", ""),
    ("User", ""),
    ("AttachStdin", False),
    ("AttachStdout", False),
    ("AttachStderr", False),
    ("ExposedPorts", None),
    ("Tty", False),
    ("OpenStdin", False),
    ("StdinOnce", False),
    ("Env", None),
    ("Cmd", None),
    ("Healthcheck", None),
    ("ArgsEscaped", None),
    ("Image", ""),
    ("Volumes", None),
    ("WorkingDir", ""),
    ("Entrypoint", None),
    ("NetworkDisabled", None),
    ("MacAddress", None),
    ("OnBuild", None),
    ("Labels", None),
    ("StopSignal", None),
    ("StopTimeout", None),
    ("Shell", None),
)
# fields Go's encoder leaves out when empty (`omitempty` in container.Config)
_OMIT_EMPTY = {
    "ExposedPorts",
    "Healthcheck",
    "ArgsEscaped",
    "NetworkDisabled",
    "MacAddress",
    "StopSignal",
    "StopTimeout",
    "Shell",
}


def container_config(base: dict[str, Any] | None) -> dict[str, Any]:
    """A run config with every field of Docker's container.Config, values from `base`."""
    base = copy.deepcopy(base or {})
    out: dict[str, Any] = {}
    for key, default in _CONFIG_FIELDS:
        out[key] = base.pop(key, default)
    out.update(base)  # fields we do not know are kept as they are
    out["OpenStdin"] = False
    out["StdinOnce"] = False
    return out


def compact(config: dict[str, Any]) -> dict[str, Any]:
    """The config as Go would encode it: omitempty fields without a value left out."""
    return {k: v for k, v in config.items() if not (k in _OMIT_EMPTY and not v)}


def go_quote(text: str) -> str:
    """Go's strconv.Quote."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() and code != 0xFFFD:
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v"}  # fmt: skip


def go_strings(values: list[str] | None) -> str:
    """Go's `%q` of a []string: `["a" "b"]`."""
    return "[" + " ".join(go_quote(v) for v in values or []) + "]"


def go_values(values: list[str] | None) -> str:
    """Go's `%v` of a []string: `[a b]`."""
    return "[" + " ".join(values or []) + "]"


def go_duration(ns: int) -> str:
    """Go's time.Duration.String() for whole milliseconds and up (enough for healthchecks)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        if ns % 1_000_000 == 0:
            return f"{sign}{ns // 1_000_000}ms"
        if ns % 1000 == 0:
            return f"{sign}{ns // 1000}µs"
        return f"{sign}{ns}ns"
    hours, rest = divmod(ns, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    seconds = rest / 1_000_000_000
    sec = f"{seconds:.9f}".rstrip("0").rstrip(".")
    out = sign
    if hours:
        out += f"{hours}h{minutes}m"
    elif minutes:
        out += f"{minutes}m"
    return out + f"{sec}s"


def healthcheck_comment(hc: dict[str, Any]) -> str:
    """`HEALTHCHECK %q` of Docker's *HealthConfig, as the classic builder writes it."""
    durations = " ".join(
        go_quote(go_duration(int(hc.get(k) or 0)))
        for k in ("Interval", "Timeout", "StartPeriod", "StartInterval")
    )
    retries = int(hc.get("Retries") or 0)
    return f"HEALTHCHECK &{{{go_strings(hc.get('Test'))} {durations} '\\x{retries:02x}'}}"


def update_env(env: list[str] | None, key: str, value: str) -> list[str]:
    """ENV key=value: replace the variable where it is, or append it."""
    out = list(env or [])
    for i, entry in enumerate(out):
        if entry.partition("=")[0] == key:
            out[i] = f"{key}={value}"
            return out
    out.append(f"{key}={value}")
    return out


def ensure_path(env: list[str] | None) -> list[str]:
    """A stage's Env with the default PATH added when the base image has none."""
    out = list(env or [])
    if not any(e.partition("=")[0] == "PATH" for e in out):
        out.append("PATH=" + DEFAULT_PATH)
    return out


def parse_ports(specs: list[str]) -> list[str]:
    """EXPOSE's port specs -> ["80/tcp", ...] (ranges expanded), Docker's nat rules."""
    out: list[str] = []
    for spec in specs:
        port, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidParameter(f"invalid proto: {proto}")
        if ":" in port:
            port = port.rsplit(":", 1)[1]
        start, dash, end = port.partition("-")
        try:
            first = int(start)
            last = int(end) if dash else first
        except ValueError:
            raise InvalidParameter(f"invalid containerPort: {port}") from None
        if not (0 <= first <= 65535 and 0 <= last <= 65535) or last < first:
            raise InvalidParameter(f"invalid containerPort: {port}")
        out.extend(f"{p}/{proto}" for p in range(first, last + 1))
    return out
