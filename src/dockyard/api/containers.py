"""Container and exec routes over ContainerService (whose calls block: run in threads)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from aiohttp import web

from dockyard.api.app import Routes, api_version
from dockyard.api.body import (
    field,
    query_atoi,
    query_bool,
    query_int,
    query_tail,
    query_timestamp,
    read_json_object,
)
from dockyard.api.filters import request_filters
from dockyard.api.streams import (
    MULTIPLEXED_STREAM,
    RAW_STREAM,
    BlockingBody,
    HijackedConnection,
    dumps,
    hijack,
    in_own_thread,
    iterate_in_thread,
    stdcopy_frame,
)
from dockyard.errors import InvalidParameter, NotFound

_STREAM_NO = {"stdout": 1, "stderr": 2}
DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json")


def parse_detach_keys(spec: str | None) -> bytes:
    """docker's --detach-keys: comma-separated `ctrl-<x>` or single characters."""
    if not spec:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for part in spec.split(","):
        part = part.strip()
        if part.startswith("ctrl-") and len(part) == 6:
            c = part[5]
            code = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}.get(c)
            if code is None:
                if not c.isalpha():
                    raise InvalidParameter(f"Invalid escape keys ({spec}) provided")
                code = ord(c.lower()) - ord("a") + 1
            out.append(code)
        elif len(part) == 1:
            out.append(ord(part))
        else:
            raise InvalidParameter(f"Invalid escape keys ({spec}) provided")
    return bytes(out)


class ContainerRoutes:
    def __init__(self, containers: Any) -> None:
        self.c = containers

    def setup(self, routes: Routes) -> None:
        r = routes
        r.get("/containers/json", self.list)
        r.post("/containers/create", self.create)
        r.post("/containers/prune", self.prune)
        r.get("/containers/{id}/json", self.inspect)
        r.post("/containers/{id}/start", self.start)
        r.post("/containers/{id}/stop", self.stop)
        r.post("/containers/{id}/restart", self.restart)
        r.post("/containers/{id}/kill", self.kill)
        r.post("/containers/{id}/wait", self.wait)
        r.delete("/containers/{id}", self.remove)
        r.get("/containers/{id}/logs", self.logs)
        r.post("/containers/{id}/attach", self.attach)
        r.post("/containers/{id}/resize", self.resize)
        r.get("/containers/{id}/top", self.top)
        r.get("/containers/{id}/stats", self.stats)
        r.post("/containers/{id}/rename", self.rename)
        r.post("/containers/{id}/pause", self.pause)
        r.post("/containers/{id}/unpause", self.unpause)
        r.post("/containers/{id}/update", self.update)
        r.get("/containers/{id}/archive", self.archive_get)
        r.put("/containers/{id}/archive", self.archive_put)
        r.get("/containers/{id}/export", self.export)
        r.get("/containers/{id}/changes", self.changes)
        r.post("/containers/{id}/exec", self.exec_create)
        r.post("/exec/{id}/start", self.exec_start)
        r.post("/exec/{id}/resize", self.exec_resize)
        r.get("/exec/{id}/json", self.exec_inspect)

    # -- create, list, inspect ------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        name = request.query.get("name") or None
        host_config = field(body, "HostConfig", dict, {}, "ContainerCreateConfig")
        networking = field(body, "NetworkingConfig", dict, {}, "ContainerCreateConfig")
        config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        _check_config_types(config)
        _check_host_config_types(host_config)
        _default_network(host_config, networking)
        result = await asyncio.to_thread(self.c.create, name, config, host_config, networking)
        result.setdefault("Warnings", [])
        if result["Warnings"] is None:
            result["Warnings"] = []
        return _json(result, 201)

    async def list(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        limit = query_int(request, "limit", -1)
        out = await asyncio.to_thread(
            self.c.list,
            query_bool(request, "all"),
            limit if limit else -1,
            query_bool(request, "size"),
            filters,
        )
        return _json(out)

    async def inspect(self, request: web.Request) -> web.Response:
        view = await asyncio.to_thread(
            self.c.inspect, request.match_info["id"], query_bool(request, "size")
        )
        return _json(view)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, request: web.Request) -> web.Response:
        await asyncio.to_thread(self.c.start, request.match_info["id"])
        return web.Response(status=204)

    def _timeout(self, request: web.Request) -> int | None:
        return query_int(request, "t", None)

    async def _stopping(self, request: web.Request, fn: Any) -> web.Response:
        """stop and restart: `t` (the stop timeout) and `signal` from the query."""
        ref, signal = request.match_info["id"], request.query.get("signal") or None
        await asyncio.to_thread(fn, ref, self._timeout(request), signal)
        return web.Response(status=204)

    async def stop(self, request: web.Request) -> web.Response:
        return await self._stopping(request, self.c.stop)

    async def restart(self, request: web.Request) -> web.Response:
        return await self._stopping(request, self.c.restart)

    async def kill(self, request: web.Request) -> web.Response:
        await asyncio.to_thread(
            self.c.kill, request.match_info["id"], request.query.get("signal") or "SIGKILL"
        )
        return web.Response(status=204)

    async def wait(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        condition = request.query.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidParameter(f'invalid condition: "{condition}"')
        # Count the exits before we answer the headers (404 before the 200): `docker run`
        # starts the container as soon as it has them, and its exit must be the next one.
        seen = await asyncio.to_thread(self.c.exit_count, ref)
        waiting = in_own_thread(self.c.wait, ref, condition, None, seen)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            result = await waiting
        except NotFound:
            result = {"StatusCode": 0, "Error": None}
        except Exception as exc:  # noqa: BLE001 - the 200 went out: report in the body
            result = {"StatusCode": -1, "Error": {"Message": str(exc)}}
        if api_version(request) < (1, 30):
            result.pop("Error", None)
        await resp.write(dumps(result))
        await resp.write_eof()
        return resp

    async def remove(self, request: web.Request) -> web.Response:
        await asyncio.to_thread(
            self.c.remove,
            request.match_info["id"],
            query_bool(request, "force"),
            query_bool(request, "v"),
            query_bool(request, "link"),
        )
        return web.Response(status=204)

    async def rename(self, request: web.Request) -> web.Response:
        await asyncio.to_thread(
            self.c.rename, request.match_info["id"], request.query.get("name", "")
        )
        return web.Response(status=204)

    async def pause(self, request: web.Request) -> web.Response:
        await asyncio.to_thread(self.c.pause, request.match_info["id"])
        return web.Response(status=204)

    async def unpause(self, request: web.Request) -> web.Response:
        await asyncio.to_thread(self.c.unpause, request.match_info["id"])
        return web.Response(status=204)

    async def update(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        result = await asyncio.to_thread(self.c.update, request.match_info["id"], body)
        return _json({"Warnings": result.get("Warnings") or []})

    async def prune(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        return _json(await asyncio.to_thread(self.c.prune, filters))

    # -- logs, top, stats, changes ----------------------------------------------------------

    async def logs(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        stdout, stderr = query_bool(request, "stdout"), query_bool(request, "stderr")
        if not stdout and not stderr:
            raise InvalidParameter("Bad parameters: you must choose at least one stream")
        tail = query_tail(request)  # dockerd: anything but an int64 means all
        since = query_timestamp(request, "since")
        until = query_timestamp(request, "until")
        info = await asyncio.to_thread(self.c.inspect, ref)
        tty = bool((info.get("Config") or {}).get("Tty"))
        kwargs = dict(
            stdout=stdout,
            stderr=stderr,
            follow=query_bool(request, "follow"),
            since=since,
            until=until,
            timestamps=query_bool(request, "timestamps"),
            details=query_bool(request, "details"),
            tail=tail,
        )
        # Raise errors (e.g. the none log driver) before the 200.
        first = await asyncio.to_thread(lambda: self.c.logs(ref, **kwargs))
        resp = web.StreamResponse(
            headers={"Content-Type": RAW_STREAM if tty else MULTIPLEXED_STREAM}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        used = [False]

        def make() -> Any:
            if not used[0]:
                used[0] = True
                return first
            return self.c.logs(ref, **kwargs)

        try:
            async for stream, data in iterate_in_thread(make):
                await resp.write(data if tty else stdcopy_frame(_STREAM_NO.get(stream, 1), data))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        await resp.write_eof()
        return resp

    async def top(self, request: web.Request) -> web.Response:
        out = await asyncio.to_thread(
            self.c.top, request.match_info["id"], request.query.get("ps_args", "")
        )
        return _json(out)

    async def stats(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        stream = query_bool(request, "stream", True)
        one_shot = query_bool(request, "one-shot")
        if one_shot and stream:
            raise InvalidParameter("cannot have stream=true and one-shot=true")
        await asyncio.to_thread(self.c.resolve, ref)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        async for entry in iterate_in_thread(lambda: self.c.stats(ref, stream, one_shot)):
            await resp.write(dumps(entry))
        await resp.write_eof()
        return resp

    async def changes(self, request: web.Request) -> web.Response:
        out = await asyncio.to_thread(self.c.changes, request.match_info["id"])
        return _json(out or None)

    # -- archive and export -----------------------------------------------------------------

    async def archive_get(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        path = request.query.get("path")
        if not path:
            raise InvalidParameter("path is required")
        if request.method == "HEAD":
            st = await asyncio.to_thread(self.c.archive_head, ref, path)
            return web.Response(
                status=200,
                headers={
                    "X-Docker-Container-Path-Stat": _stat_header(st),
                    "Content-Type": "application/x-tar",
                },
            )
        st, chunks = await asyncio.to_thread(self.c.archive_get, ref, path)
        resp = web.StreamResponse(
            headers={
                "X-Docker-Container-Path-Stat": _stat_header(st),
                "Content-Type": "application/x-tar",
            }
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        async for chunk in iterate_in_thread(lambda: chunks):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def archive_put(self, request: web.Request) -> web.Response:
        ref = request.match_info["id"]
        path = request.query.get("path")
        if not path:
            raise InvalidParameter("path is required")
        body = BlockingBody(request, asyncio.get_running_loop())
        await asyncio.to_thread(
            lambda: self.c.archive_put(
                ref,
                path,
                body,
                no_overwrite_dir_non_dir=query_bool(request, "noOverwriteDirNonDir"),
                copy_uid_gid=query_bool(request, "copyUIDGID"),
            )
        )
        return web.Response(status=200)

    async def export(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        chunks = await asyncio.to_thread(self.c.export, ref)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        async for chunk in iterate_in_thread(lambda: chunks):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    # -- attach, resize, exec ---------------------------------------------------------------

    async def attach(self, request: web.Request) -> web.StreamResponse:
        """The hijacked attach stream. `docker run` attaches before it starts the container:
        the service then hands out a pending stream that the next start connects before the
        process runs (the monitor waits for it), so no output is ever lost."""
        stdin = query_bool(request, "stdin")
        detach_keys = parse_detach_keys(request.query.get("detachKeys"))
        stream = await asyncio.to_thread(
            self.c.attach,
            request.match_info["id"],
            stdin=stdin,
            stdout=query_bool(request, "stdout"),
            stderr=query_bool(request, "stderr"),
            logs=query_bool(request, "logs"),
            stream=query_bool(request, "stream"),
        )
        close_stdin = False
        if stdin:  # Docker: the client's EOF closes the container's stdin only with StdinOnce
            config = (await asyncio.to_thread(self.c.inspect, request.match_info["id"]))["Config"]
            close_stdin = bool(config.get("StdinOnce")) and not stream.tty
        resp, conn = await hijack(request, RAW_STREAM if stream.tty else MULTIPLEXED_STREAM)
        await pump(conn, stream, stdin, detach_keys, close_stdin)
        return resp

    async def resize(self, request: web.Request) -> web.Response:
        h, w = query_atoi(request, "h"), query_atoi(request, "w")  # required, as in dockerd
        await asyncio.to_thread(self.c.resize, request.match_info["id"], h, w)
        return web.Response(status=200)

    async def exec_create(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        for key, typ in (
            ("AttachStdin", bool),
            ("AttachStdout", bool),
            ("AttachStderr", bool),
            ("Tty", bool),
            ("Privileged", bool),
            ("User", str),
            ("WorkingDir", str),
            ("Cmd", list),
            ("Env", list),
            ("DetachKeys", str),
        ):
            field(body, key, typ, None, "ExecConfig")
        result = await asyncio.to_thread(self.c.exec_create, request.match_info["id"], body)
        return _json(result, 201)

    async def exec_start(self, request: web.Request) -> web.StreamResponse:
        exec_id = request.match_info["id"]
        body = await read_json_object(request)
        detach = bool(field(body, "Detach", bool, False, "ExecStartConfig"))
        tty = field(body, "Tty", bool, None, "ExecStartConfig")
        size = field(body, "ConsoleSize", list, None, "ExecStartConfig")
        if detach:
            await asyncio.to_thread(self.c.exec_start, exec_id, True, tty, size)
            return web.Response(status=200)
        # Claimed (Conflict if it runs or ran) before the upgrade, which is answered before
        # the process starts (as dockerd does): clients that read the 101 through a buffer
        # (docker-py) would lose output that came with it.
        info = await asyncio.to_thread(self.c.exec_claim, exec_id)
        tty_ = bool(info.get("ProcessConfig", {}).get("tty")) if tty is None else tty
        try:
            resp, conn = await hijack(request, RAW_STREAM if tty_ else MULTIPLEXED_STREAM)
        except BaseException:
            await asyncio.to_thread(self.c.exec_release, exec_id)
            raise
        try:
            stream = await asyncio.to_thread(self.c.exec_start, exec_id, False, tty, size, True)
        except Exception as exc:  # noqa: BLE001 - the 101 went out: say it in the stream
            message = (getattr(exc, "message", None) or str(exc)) + "\r\n"
            await _safe_write(
                conn, message.encode() if tty_ else stdcopy_frame(1, message.encode())
            )
            conn.close()
            return resp
        if stream is None:
            conn.close()
            return resp
        keys = parse_detach_keys(info.get("DetachKeys") or None)
        await pump(conn, stream, bool(info.get("OpenStdin")), keys)
        return resp

    async def exec_resize(self, request: web.Request) -> web.Response:
        h, w = query_atoi(request, "h"), query_atoi(request, "w")  # required, as in dockerd
        await asyncio.to_thread(self.c.exec_resize, request.match_info["id"], h, w)
        return web.Response(status=201)

    async def exec_inspect(self, request: web.Request) -> web.Response:
        return _json(await asyncio.to_thread(self.c.exec_inspect, request.match_info["id"]))


async def pump(
    conn: HijackedConnection,
    stream: Any,
    stdin: bool,
    detach_keys: bytes,
    close_stdin: bool = True,
) -> None:
    """Copy the container's output to the client and the client's input to the container,
    until the output ends, the client goes away or types the detach keys. The end of the
    client's input closes the process's stdin when `close_stdin` (an exec; an attach with
    StdinOnce), else it ends the session as a detach does (`docker attach` detaching by
    itself closes its side), as in Docker."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    tty = stream.tty

    async def output() -> None:
        def read_all() -> None:
            while True:
                item = stream.read()
                if item is None:
                    break
                kind, data = item
                payload = data if tty else stdcopy_frame(_STREAM_NO.get(kind, 1), data)
                fut = asyncio.run_coroutine_threadsafe(_safe_write(conn, payload), loop)
                try:
                    if not fut.result():
                        break
                except Exception:  # noqa: BLE001 - the loop or the client went away
                    break

        await in_own_thread(read_all)
        done.set()

    async def input_() -> None:
        matched = 0
        while True:
            data = await conn.read()
            if not data:
                if stdin and close_stdin:  # (a pending stream waits for its start: own thread)
                    await in_own_thread(stream.close_stdin)
                elif stdin:
                    done.set()
                return
            if not stdin:
                continue
            out = bytearray()
            for b in data:
                if detach_keys and b == detach_keys[matched]:
                    matched += 1
                    if matched == len(detach_keys):
                        done.set()
                        return
                    continue
                if matched:
                    out += detach_keys[:matched]
                    matched = 0
                out.append(b)
            if out:
                await in_own_thread(stream.write, bytes(out))

    out_task = asyncio.create_task(output())
    in_task = asyncio.create_task(input_())
    try:
        await done.wait()
    finally:
        in_task.cancel()
        if not out_task.done():
            # Detached or the client left: drop our side of the stream; the process lives on.
            await asyncio.to_thread(stream.close)
        try:
            await asyncio.wait_for(out_task, 10)
        except (TimeoutError, asyncio.CancelledError):
            out_task.cancel()
        conn.close()


async def _safe_write(conn: HijackedConnection, data: bytes) -> bool:
    try:
        await conn.write(data)
        return True
    except (ConnectionResetError, BrokenPipeError, OSError):
        return False


def _stat_header(st: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(st).encode()).decode()


def _default_network(host_config: dict[str, Any], networking: dict[str, Any]) -> None:
    """NetworkMode "" or "default" is the daemon's default network, `bridge`, as in dockerd."""
    mode = host_config.get("NetworkMode")
    if mode is not None and not isinstance(mode, str):
        raise InvalidParameter(
            "json: cannot unmarshal number into Go struct field HostConfig.NetworkMode of type "
            "container.NetworkMode"
        )
    if mode in (None, "", "default"):
        host_config["NetworkMode"] = "bridge"
    endpoints = networking.get("EndpointsConfig")
    if isinstance(endpoints, dict) and "default" in endpoints:
        ep = endpoints.pop("default")
        endpoints.setdefault(host_config["NetworkMode"], ep)


_CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "Hostname": str,
    "Domainname": str,
    "User": str,
    "AttachStdin": bool,
    "AttachStdout": bool,
    "AttachStderr": bool,
    "Tty": bool,
    "OpenStdin": bool,
    "StdinOnce": bool,
    "Env": list,
    "Cmd": (list, str),
    "Entrypoint": (list, str),
    "Image": str,
    "Volumes": dict,
    "WorkingDir": str,
    "Labels": dict,
    "StopSignal": str,
    "StopTimeout": int,
    "ExposedPorts": dict,
    "Healthcheck": dict,
    "NetworkDisabled": bool,
    "MacAddress": str,
    "OnBuild": list,
    "Shell": list,
    "ArgsEscaped": bool,
}


_HOST_CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "Binds": list,
    "ContainerIDFile": str,
    "LogConfig": dict,
    "NetworkMode": str,
    "PortBindings": dict,
    "RestartPolicy": dict,
    "AutoRemove": bool,
    "VolumeDriver": str,
    "VolumesFrom": list,
    "Mounts": list,
    "CapAdd": list,
    "CapDrop": list,
    "CgroupnsMode": str,
    "Dns": list,
    "DnsOptions": list,
    "DnsSearch": list,
    "ExtraHosts": list,
    "GroupAdd": list,
    "IpcMode": str,
    "Cgroup": str,
    "Links": list,
    "OomScoreAdj": int,
    "PidMode": str,
    "Privileged": bool,
    "PublishAllPorts": bool,
    "ReadonlyRootfs": bool,
    "SecurityOpt": list,
    "StorageOpt": dict,
    "Tmpfs": dict,
    "UTSMode": str,
    "UsernsMode": str,
    "ShmSize": int,
    "Sysctls": dict,
    "Runtime": str,
    "Isolation": str,
    "CpuShares": int,
    "Memory": int,
    "NanoCpus": int,
    "CgroupParent": str,
    "BlkioWeight": int,
    "CpuPeriod": int,
    "CpuQuota": int,
    "CpuRealtimePeriod": int,
    "CpuRealtimeRuntime": int,
    "CpusetCpus": str,
    "CpusetMems": str,
    "Devices": list,
    "DeviceCgroupRules": list,
    "DeviceRequests": list,
    "MemoryReservation": int,
    "MemorySwap": int,
    "MemorySwappiness": int,
    "OomKillDisable": bool,
    "Init": bool,
    "PidsLimit": int,
    "Ulimits": list,
    "CpuCount": int,
    "CpuPercent": int,
    "MaskedPaths": list,
    "ReadonlyPaths": list,
    "ConsoleSize": list,
    "Annotations": dict,
    "KernelMemory": int,
    "KernelMemoryTCP": int,
}


def _check_host_config_types(host_config: dict[str, Any]) -> None:
    for key, typ in _HOST_CONFIG_TYPES.items():
        field(host_config, key, typ, None, "HostConfig")


def _check_config_types(config: dict[str, Any]) -> None:
    for key, typ in _CONFIG_TYPES.items():
        field(config, key, typ, None, "ContainerCreateConfig")
    for key in ("Env", "Cmd", "Entrypoint"):
        value = config.get(key)
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise InvalidParameter(
                f"json: cannot unmarshal number into Go struct field "
                f"ContainerCreateConfig.{key} of type string"
            )
    labels = config.get("Labels") or {}
    if not all(isinstance(v, str) for v in labels.values()):
        raise InvalidParameter(
            "json: cannot unmarshal number into Go struct field "
            "ContainerCreateConfig.Labels of type string"
        )
