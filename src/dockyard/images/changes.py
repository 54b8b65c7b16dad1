"""`--change` instructions of `docker import` and `docker commit`, applied to an image config.

Each change is one Dockerfile line (CMD, ENTRYPOINT, ENV, EXPOSE, ONBUILD, USER, VOLUME,
WORKDIR, LABEL, STOPSIGNAL, HEALTHCHECK), parsed by the Dockerfile parser.
"""

from __future__ import annotations

from ..dockerfile.parser import DockerfileParseError, Instruction, parse
from ..errors import InvalidParameter

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def _env_map(env: list[str]) -> dict[str, str]:
    out = {}
    for item in env:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _parse_change(line: str) -> Instruction:
    keyword = line.strip().split(None, 1)[0].upper() if line.strip() else ""
    if keyword not in ALLOWED:
        raise InvalidParameter(f"{keyword.lower()} is not a valid change command")
    try:
        df = parse("FROM scratch\n" + line.strip() + "\n")
    except DockerfileParseError as e:
        raise InvalidParameter(f"dockerfile parse error: {e}") from None
    return df.stages[0].instructions[0]


def _shell_or_json(ins: Instruction, shell: list[str]) -> list[str]:
    return list(ins.args) if ins.json_form else [*shell, ins.args[0]]


def apply_changes(config: dict, changes: list[str]) -> dict:
    """A copy of container config `config` (the image config's `config`) with changes applied."""
    cfg = dict(config)
    for line in changes:
        if not line.strip():
            continue
        raw = _parse_change(line)
        env = _env_map(cfg.get("Env") or [])
        ins = raw.expand(env)
        shell = cfg.get("Shell") or ["/bin/sh", "-c"]
        kw = ins.keyword
        if kw == "CMD":
            cfg["Cmd"] = _shell_or_json(ins, shell)
        elif kw == "ENTRYPOINT":
            cfg["Entrypoint"] = _shell_or_json(ins, shell)
            cfg.setdefault("Cmd", None)
        elif kw == "ENV":
            env_list = list(cfg.get("Env") or [])
            for key, value in ins.pairs():
                env_list = [e for e in env_list if e.partition("=")[0] != key]
                env_list.append(f"{key}={value}")
            cfg["Env"] = env_list
        elif kw == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            labels.update(dict(ins.pairs()))
            cfg["Labels"] = labels
        elif kw == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for port in ins.args:
                p = port if "/" in port else f"{port}/tcp"
                ports[p.lower()] = {}
            cfg["ExposedPorts"] = ports
        elif kw == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            for v in ins.args:
                if not v.strip():
                    raise InvalidParameter("VOLUME specified can not be an empty string")
                vols[v] = {}
            cfg["Volumes"] = vols
        elif kw == "USER":
            cfg["User"] = ins.args[0]
        elif kw == "WORKDIR":
            wd = ins.args[0]
            if not wd.startswith("/"):
                wd = (cfg.get("WorkingDir") or "/").rstrip("/") + "/" + wd
            cfg["WorkingDir"] = wd
        elif kw == "STOPSIGNAL":
            cfg["StopSignal"] = ins.args[0]
        elif kw == "ONBUILD":
            trigger = line.strip().split(None, 1)[1] if len(line.split()) > 1 else ""
            cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), trigger]
        elif kw == "HEALTHCHECK":
            cfg["Healthcheck"] = ins.healthcheck()
    return cfg
