"""Daemon-wide container defaults that dockerd fills into each container's HostConfig at
create: `log-driver` and `log-opts`, `default-ulimits`, `no-new-privileges` and
`default-shm-size` (daemon.json keys)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from dockyard.containers.jsonlog import log_options
from dockyard.errors import InvalidParameter
from dockyard.units import parse_bytes


@dataclass(frozen=True)
class ContainerDefaults:
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    ulimits: tuple[dict[str, Any], ...] = ()
    no_new_privileges: bool = False
    shm_size: int = 0  # 0: Docker's 64 MiB

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ContainerDefaults:
        """The defaults a daemon.json asks for; ValueError (dockerd's wording) if invalid."""
        driver = settings.get("log-driver") or "json-file"
        opts = settings.get("log-opts") or {}
        if not isinstance(opts, dict) or not all(isinstance(v, str) for v in opts.values()):
            raise ValueError("log-opts must be an object of strings")
        try:
            log_options({"Type": driver, "Config": opts})
        except InvalidParameter as exc:
            raise ValueError(f"failed to set log opts: {exc}") from None
        ulimits = []
        raw_ulimits = settings.get("default-ulimits") or {}
        if not isinstance(raw_ulimits, dict):
            raise ValueError("default-ulimits must be an object")
        for name, ul in sorted(raw_ulimits.items()):
            if not isinstance(ul, dict):
                raise ValueError(f"invalid default-ulimits entry {name!r}")
            soft, hard = ul.get("Soft", 0), ul.get("Hard", 0)
            if not isinstance(soft, int) or not isinstance(hard, int) or soft > hard:
                raise ValueError(f"invalid default-ulimits entry {name!r}: Soft must be <= Hard")
            ulimits.append({"Name": ul.get("Name") or name, "Soft": soft, "Hard": hard})
        shm = settings.get("default-shm-size") or 0
        try:
            shm_size = parse_bytes(shm)
        except ValueError as exc:
            raise ValueError(f"default-shm-size: {exc}") from None
        if shm_size < 0:
            raise ValueError("default-shm-size: SHM size can not be less than 0")
        nnp = settings.get("no-new-privileges", False)
        if not isinstance(nnp, bool):
            raise ValueError("no-new-privileges must be a boolean")
        return cls(driver, dict(opts), tuple(ulimits), nnp, shm_size)

    def apply(self, host_config: dict[str, Any]) -> dict[str, Any]:
        """A copy of `host_config` with the daemon defaults filled in where it sets nothing."""
        hc = copy.deepcopy(host_config)
        log = dict(hc.get("LogConfig") or {})
        log["Type"] = log.get("Type") or self.log_driver
        opts = dict(log.get("Config") or {})
        if log["Type"] == self.log_driver:
            for key, value in self.log_opts.items():
                opts.setdefault(key, value)
        log["Config"] = opts
        hc["LogConfig"] = log
        if self.ulimits:
            given = {ul.get("Name") for ul in hc.get("Ulimits") or []}
            extra = [dict(ul) for ul in self.ulimits if ul["Name"] not in given]
            hc["Ulimits"] = list(hc.get("Ulimits") or []) + extra
        if self.no_new_privileges:
            opts_ = list(hc.get("SecurityOpt") or [])
            if not any(o.split("=", 1)[0].split(":", 1)[0] == "no-new-privileges" for o in opts_):
                hc["SecurityOpt"] = [*opts_, "no-new-privileges"]
        if self.shm_size and not hc.get("ShmSize"):
            hc["ShmSize"] = self.shm_size
        return hc
