"""The executor: runs the stages of a parsed Dockerfile with the classic builder's semantics.

Each instruction of a stage is a step that makes an image (metadata steps an image without
a new layer, recorded as `empty_layer` in the history; RUN, COPY, ADD and a WORKDIR that
creates its directory an image with one more layer), whose parent is the previous step's
image. Before a step does its work, the cache is asked for an image made from the same
parent by the same step (see cache.py). Messages go to `out` as Docker's classic builder
writes them: `Step N/M : ...`, ` ---> Using cache`, ` ---> Running in ...`, the output of
RUN, `Removing intermediate container ...`, ` ---> <id>`.
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import signal as signals
import tempfile
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO

from dockyard.build import copier
from dockyard.build.buildargs import BuildArgs
from dockyard.build.cache import BuildCache, history_match, step_key
from dockyard.build.contextdir import BuildContext
from dockyard.build.imageconfig import (
    DEFAULT_SHELL,
    compact,
    container_config,
    ensure_path,
    go_strings,
    go_values,
    healthcheck_comment,
    parse_ports,
    update_env,
)
from dockyard.build.parser import Dockerfile, DockerfileParseError, Instruction, Stage, parse
from dockyard.build.runner import run_step
from dockyard.errors import InvalidParameter, NotFound
from dockyard.images import manifest as mf
from dockyard.images.service import Image, LayerDescriptor, short_id
from dockyard.images.timefmt import now_rfc3339
from dockyard.snapshots.layer import write_diff
from dockyard.snapshots.mount import mount_all, unmount_all


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


class Executor:
    """Builds one Dockerfile from one context (used once, by BuildService.build)."""

    def __init__(
        self,
        engine: Engine,
        context: BuildContext,
        options: BuildOptions,
        out: Callable[[str], None],
        aux: Callable[[str], None] = lambda image_id: None,
        cancel: threading.Event | None = None,
    ) -> None:
        """`out` gets the text of the build's output; `aux` each stage's image ID; setting
        `cancel` stops the build at the next step (and kills a running RUN)."""
        self.engine = engine
        self.aux = aux
        self.cancel = cancel
        self.images = engine.images
        self.snapshots = engine.snapshots
        self.context = context
        self.options = options
        self.out = out
        self.stage_images: dict[int, str] = {}
        self._stages_by_index: dict[int, Stage] = {}
        self.step = 0
        self.total = 0
        self.cache_from = [self.images.get(ref) for ref in options.cachefrom if
                           self.images.exists(ref)]  # fmt: skip

    # --- the whole build --------------------------------------------------------------

    def build(self, dockerfile: Dockerfile) -> str:
        if not dockerfile.stages:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        args = BuildArgs(self.options.buildargs)
        self._stages_by_index = {s.index: s for s in dockerfile.stages}
        target = self._target(dockerfile)
        needed = self._needed(dockerfile, target, args)
        labels = sorted(self.options.labels.items())
        self.total = (
            len(dockerfile.meta_args)
            + sum(1 + len(s.instructions) for s in dockerfile.stages if s.index in needed)
            + len(labels)
        )
        for meta in dockerfile.meta_args:
            self._print_step(meta)
            for name, default in meta.expand(args.meta_values()).arg_pairs():
                args.add_meta(name, default)
        state: StageState | None = None
        for stage in dockerfile.stages:
            if stage.index not in needed:
                continue
            state = self._from(stage, args, dockerfile)
            for instruction in stage.instructions:
                self._print_step(instruction)
                self.dispatch(state, instruction)
                self._print_id(state)
            if stage is target:
                for key, value in labels:
                    label = Instruction("LABEL", [key, value], original=f"LABEL {key}={value}")
                    self._print_step(label)
                    self._label(state, label, expand=False)
                    self._print_id(state)
            self.stage_images[stage.index] = state.image_id
            if state.image_id:
                self.aux(state.image_id)
        assert state is not None
        if not state.image_id:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        unused = args.unconsumed()
        if unused:
            self.out(f"[Warning] One or more build-args {go_values(unused)} were not consumed\n")
        return state.image_id

    def _target(self, dockerfile: Dockerfile) -> Stage:
        if not self.options.target:
            return dockerfile.stages[-1]
        stage = dockerfile.stage(self.options.target)
        if stage is None:
            raise BuildError(f"failed to reach build target {self.options.target} in Dockerfile")
        return stage

    def _needed(self, dockerfile: Dockerfile, target: Stage, args: BuildArgs) -> set[int]:
        """The stages `target` depends on through FROM and COPY --from (and itself)."""
        meta = BuildArgs(self.options.buildargs)
        for ins in dockerfile.meta_args:
            for name, default in ins.expand(meta.meta_values()).arg_pairs():
                meta.add_meta(name, default)
        env = meta.meta_values()

        def refs(stage: Stage) -> Iterator[Stage]:
            base = _expand_quiet(stage.from_instruction, env, stage.base)
            found = dockerfile.stage(base) if not base.isdecimal() else None
            if found is not None and found.index < stage.index:
                yield found
            for ins in stage.instructions:
                ref = ins.flags.get("from") if ins.keyword == "COPY" else None
                if isinstance(ref, str):
                    ref = _expand_word(ref, env)
                    dep = dockerfile.stage(ref)
                    if dep is not None and dep.index < stage.index:
                        yield dep

        needed: set[int] = set()
        todo = [target]
        while todo:
            stage = todo.pop()
            if stage.index in needed:
                continue
            needed.add(stage.index)
            todo.extend(refs(stage))
        return needed

    def _print_step(self, instruction: Instruction) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise BuildError("context canceled")
        self.step += 1
        self.out(f"Step {self.step}/{self.total} : {instruction.original}\n")

    def _print_id(self, state: StageState) -> None:
        self.out(f" ---> {short_id(state.image_id)}\n")

    # --- FROM ---------------------------------------------------------------------------

    def _from(self, stage: Stage, args: BuildArgs, dockerfile: Dockerfile) -> StageState:
        assert stage.from_instruction is not None
        self._print_step(stage.from_instruction)
        ins = stage.from_instruction.expand(args.meta_values())
        base = ins.args[0]
        platform = ins.flags.get("platform") or self.options.platform
        state = StageState(stage, args.for_stage())
        if not base:
            raise BuildError("base name (${" + stage.base.strip("${}") + "}) should not be blank")
        ref = dockerfile.stage(base)
        if ref is not None and ref.index < stage.index and ref.index in self.stage_images:
            image: Image | None = self.images.get(self.stage_images[ref.index])
        elif base.lower() == "scratch":
            image = None
        else:
            image = self._base_image(base, platform if isinstance(platform, str) else None)
        if image is not None:
            state.image_id = image.id
            state.doc = copy.deepcopy(image.config)
            state.run = container_config(image.config.get("config"))
        else:
            plat = mf.Platform.parse(platform if isinstance(platform, str) else None)
            state.doc = {"architecture": plat.architecture, "os": plat.os}
            state.run = container_config(None)
        state.run["Env"] = ensure_path(state.run.get("Env"))
        triggers = list(state.run.get("OnBuild") or [])
        if triggers:
            state.run["OnBuild"] = None
            word = "trigger" if len(triggers) == 1 else "triggers"
            self.out(f"# Executing {len(triggers)} build {word}\n")
            for text in triggers:
                self.dispatch(state, _parse_trigger(text))
        self._print_id(state)  # " ---> " alone for scratch, as Docker prints it
        return state

    def _base_image(self, name: str, platform: str | None) -> Image:
        image: Image | None = None
        if not self.options.pull and self.images.exists(name):
            image = self.images.get(name)
        elif self.engine.pull is not None:
            image = self.engine.pull(name, platform, self.options.registry_auth)
        elif self.images.exists(name):
            image = self.images.get(name)
        if image is None:
            raise NotFound(
                f"pull access denied for {name.split(':')[0]}, repository does not exist or "
                "may require 'docker login': denied: requested access to the resource is denied"
            )
        if platform:
            want = mf.Platform.parse(platform)
            got = f"{image.config.get('os')}/{image.config.get('architecture')}"
            if (want.os, want.architecture) != (
                image.config.get("os"),
                image.config.get("architecture"),
            ):
                raise BuildError(
                    f"image with reference {name} was found but does not match the specified "
                    f"platform: wanted {want.os}/{want.architecture}, actual: {got}"
                )
        return image

    # --- dispatch -----------------------------------------------------------------------

    def dispatch(self, state: StageState, ins: Instruction) -> None:
        handler = getattr(self, "_" + ins.keyword.lower(), None)
        if handler is None:
            raise BuildError(f"unknown instruction: {ins.keyword}")
        handler(state, ins)

    def _env(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        parts = []
        for key, value in ins.pairs():
            state.run["Env"] = update_env(state.run.get("Env"), key, value)
            parts.append(f"{key}={value}")
        self.commit_meta(state, "ENV " + " ".join(parts))

    def _label(self, state: StageState, ins: Instruction, expand: bool = True) -> None:
        if expand:
            ins = ins.expand(state.env())
        labels = dict(state.run.get("Labels") or {})
        comment = "LABEL"
        for key, value in ins.pairs():
            labels[key] = value
            comment += f" {key}={value}"
        state.run["Labels"] = labels
        self.commit_meta(state, comment)

    def _maintainer(self, state: StageState, ins: Instruction) -> None:
        state.doc["author"] = ins.args[0]
        self.commit_meta(state, "MAINTAINER " + ins.args[0])

    def _expose(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        ports = dict(state.run.get("ExposedPorts") or {})
        for port in parse_ports(ins.args):
            ports[port] = {}
        state.run["ExposedPorts"] = ports
        self.commit_meta(state, "EXPOSE " + " ".join(ins.args))

    def _user(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        state.run["User"] = ins.args[0]
        self.commit_meta(state, f"USER {ins.args[0]}")

    def _volume(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        volumes = dict(state.run.get("Volumes") or {})
        for v in ins.args:
            v = v.strip()
            if not v:
                raise BuildError("VOLUME specified can not be an empty string")
            volumes[v] = {}
        state.run["Volumes"] = volumes
        self.commit_meta(state, f"VOLUME {go_values(ins.args)}")

    def _stopsignal(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        sig = ins.args[0]
        if not _valid_signal(sig):
            raise BuildError(f"Invalid signal: {sig}")
        state.run["StopSignal"] = sig
        self.commit_meta(state, f"STOPSIGNAL {sig}")

    def _arg(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        parts = []
        for name, default in ins.arg_pairs():
            state.args.declare(name, default)
            parts.append(name if default is None else f"{name}={default}")
        self.commit_meta(state, "ARG " + " ".join(parts))

    def _command(self, state: StageState, ins: Instruction) -> list[str]:
        if ins.json_form:
            return list(ins.args)
        return [*state.shell, ins.args[0] if ins.args else ""]

    def _cmd(self, state: StageState, ins: Instruction) -> None:
        cmd = self._command(state, ins)
        state.run["Cmd"] = cmd
        if ins.args:
            state.cmd_set = True
        self.commit_meta(state, f"CMD {go_strings(cmd)}")

    def _entrypoint(self, state: StageState, ins: Instruction) -> None:
        entrypoint = self._command(state, ins)
        state.run["Entrypoint"] = entrypoint
        if not state.cmd_set:
            state.run["Cmd"] = None
        self.commit_meta(state, f"ENTRYPOINT {go_strings(entrypoint)}")

    def _shell(self, state: StageState, ins: Instruction) -> None:
        state.run["Shell"] = list(ins.args)
        self.commit_meta(state, f"SHELL {go_values(ins.args)}")

    def _healthcheck(self, state: StageState, ins: Instruction) -> None:
        old = state.run.get("Healthcheck")
        if old and old.get("Test") and old["Test"][0] != "NONE":
            self.out(f"Note: overriding previous HEALTHCHECK: {go_values(old['Test'])}\n")
        hc = {k: v for k, v in ins.healthcheck().items() if v not in (0, None)}
        state.run["Healthcheck"] = hc
        self.commit_meta(state, healthcheck_comment(hc))

    def _onbuild(self, state: StageState, ins: Instruction) -> None:
        expression = ins.args[0]
        state.run["OnBuild"] = [*(state.run.get("OnBuild") or []), expression]
        self.commit_meta(state, "ONBUILD " + expression)

    def _workdir(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        path = ins.args[0]
        current = state.run.get("WorkingDir") or "/"
        state.run["WorkingDir"] = posixpath.normpath(posixpath.join("/", current, path))
        workdir = state.run["WorkingDir"]
        step = self._nop(state, f"WORKDIR {workdir}")
        if self._probe(state, step):
            return

        def make(rootfs: str) -> None:
            copier._mkdir_all(rootfs, workdir, copier._Owner(0, 0, None))

        self.commit_layer(state, step, self._layer_from(state, make))

    # --- RUN ----------------------------------------------------------------------------

    def _run(self, state: StageState, ins: Instruction) -> None:
        used = [name for name, value in ins.flags.items() if value not in (None, "", [], False)]
        if used:  # the classic builder's RUN has no flags
            raise BuildError(
                f"the --{used[0]} option requires BuildKit. Refer to "
                "https://docs.docker.com/go/buildkit/ to learn how to build images with "
                "BuildKit enabled"
            )
        cmd = self._run_command(state, ins)
        env = list(state.run.get("Env") or [])
        build_env = state.args.run_env(env)
        saved = list(cmd)
        if build_env:
            history = sorted(f"{k}={v}" for k, v in state.args.in_effect(env).items())
            saved = [f"|{len(history)}", *history, *cmd]
        step = dict(state.run, Cmd=saved, Entrypoint=None)
        if self._probe(state, step):
            return
        if not state.image_id:
            self._commit_scratch(state)
        network = self.options.networkmode or "default"
        if network == "default":
            network = "host"

        def created(cid: str) -> None:
            self.out(f" ---> Running in {short_id(cid)}\n")

        result = run_step(
            self.engine.containers,
            self.snapshots,
            image_id=state.image_id,
            cmd=cmd,
            env=env + [f"{k}={v}" for k, v in build_env.items()],
            run_config=state.run,
            network_mode=str(network),
            on_output=self.out,
            on_created=created,
            keep=not self.options.rm and not self.options.forcerm,
            cancel=self.cancel,
        )
        if self.options.rm or self.options.forcerm:
            self.out(f"Removing intermediate container {short_id(result.container_id)}\n")
        try:
            self.commit_layer(state, step, result.layer, container=result.container_id)
        finally:
            if result.layer is not None:
                result.layer.close()

    def _run_command(self, state: StageState, ins: Instruction) -> list[str]:
        if ins.json_form:
            return list(ins.args)
        line = ins.args[0] if ins.args else ""
        if ins.heredocs:
            markers = line.split()
            if all(m.startswith("<<") for m in markers) and len(ins.heredocs) == 1:
                return [*state.shell, ins.heredocs[0].content]
            for doc in ins.heredocs:
                line += "\n" + doc.content + doc.name
        return [*state.shell, line]

    # --- COPY and ADD -------------------------------------------------------------------

    def _copy(self, state: StageState, ins: Instruction) -> None:
        self._copy_or_add(state, ins, "COPY")

    def _add(self, state: StageState, ins: Instruction) -> None:
        self._copy_or_add(state, ins, "ADD")

    def _copy_or_add(self, state: StageState, ins: Instruction, cmd: str) -> None:
        if ins.flags.get("parents") or ins.flags.get("exclude"):
            raise BuildError(f"the --parents and --exclude options of {cmd} require BuildKit")
        ins = ins.expand(state.env())
        if len(ins.args) < 2:
            raise BuildError(f"{cmd} requires at least two arguments")
        srcs, dest = ins.args[:-1], ins.args[-1]
        dest = copier.normalize_dest(state.run.get("WorkingDir") or "/", dest)
        chown = str(ins.flags.get("chown") or "")
        chmod = copier.parse_chmod(str(ins.flags.get("chmod") or ""))
        from_ref = ins.flags.get("from")
        with self._sources(state, ins, cmd, srcs, from_ref) as (sources, hasher):
            try:
                copier.check_several(cmd, sources, ins.args[-1])
            except copier.CopyError as err:
                raise BuildError(err.message) from None
            try:
                digest = copier.source_hash(sources, hasher)
            except OSError as err:
                raise BuildError(f"{cmd} failed: {err}") from None
            # Docker writes "--chown=%s" right before the hash, without a space.
            chown_part = f"--chown={chown}" if chown else ""
            chmod_part = f"--chmod={ins.flags.get('chmod')} " if chmod is not None else ""
            step = self._nop(state, f"{cmd} {chmod_part}{chown_part}{digest} in {ins.args[-1]} ")
            if self._probe(state, step):
                return

            def make(rootfs: str) -> None:
                try:
                    uid, gid = copier.parse_chown(rootfs, chown)
                    copier.copy_sources(
                        rootfs,
                        sources,
                        dest,
                        uid=uid,
                        gid=gid,
                        mode=chmod,
                        decompress=cmd == "ADD" and not from_ref,
                        preserve_owner=bool(from_ref) and not chown,
                    )
                except copier.CopyError as err:
                    raise BuildError(err.message) from None

            self.commit_layer(state, step, self._layer_from(state, make))

    @contextmanager
    def _sources(
        self, state: StageState, ins: Instruction, cmd: str, srcs: list[str], from_ref: Any
    ) -> Iterator[tuple[list[copier.Source], Callable[[str], str]]]:
        tmp: str | None = None
        try:
            if isinstance(from_ref, str) and from_ref:
                with self._mounted_image(self._from_image(state, from_ref)) as root:
                    try:
                        sources = copier.find_sources(root, srcs, from_context=False)
                    except copier.CopyError as err:
                        raise BuildError(f"{cmd} failed: {err.message}") from None
                    yield sources, self.context.hash_path
                return
            named: list[str] = []
            extra: list[copier.Source] = []
            docs = {d.name: d for d in ins.heredocs}
            for src in srcs:
                doc = docs.get(src[2:].lstrip("-").strip("'\"")) if src.startswith("<<") else None
                if doc is not None:
                    tmp = tmp or tempfile.mkdtemp(prefix="dockyard-heredoc-")
                    path = os.path.join(tmp, doc.name)
                    with open(path, "w") as f:
                        f.write(doc.content)
                    os.chmod(path, 0o644)
                    extra.append(copier.Source(doc.name, path, False))
                elif cmd == "ADD" and _is_url(src):
                    tmp = tmp or tempfile.mkdtemp(prefix="dockyard-add-")
                    extra.append(_download(src, tmp))
                else:
                    named.append(src)
            try:
                sources = copier.find_sources(self.context.root, named, from_context=True)
            except copier.CopyError as err:
                if extra and not named:
                    sources = []
                else:
                    raise BuildError(f"{cmd} failed: {err.message}") from None
            yield sources + extra, self.context.hash_path
        finally:
            if tmp is not None:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)

    def _from_image(self, state: StageState, ref: str) -> Image | None:
        stage = self._dockerfile_stage(ref)
        if stage is not None:
            return self.images.get(stage) if stage else None
        if ref.lower() == "scratch":
            return None
        try:
            return self._base_image(ref, None)
        except NotFound as err:
            raise BuildError(f"invalid from flag value {ref}: {err.message}") from None

    def _dockerfile_stage(self, ref: str) -> str | None:
        """The image ID of an earlier stage named or numbered `ref` ("" for empty)."""
        for index, image_id in self.stage_images.items():
            stage = self._stages_by_index.get(index)
            if stage is not None and (stage.name == ref.lower() or str(index) == ref):
                return image_id
        return None

    @contextmanager
    def _mounted_image(self, image: Image | None) -> Iterator[str]:
        target = tempfile.mkdtemp(prefix="dockyard-from-")
        key = f"build-view-{uuid.uuid4().hex}"
        try:
            if image is None or image.chain_id is None:
                yield target
                return
            mounts = self.snapshots.view(key, image.chain_id)
            mount_all(mounts, target)
            try:
                yield target
            finally:
                unmount_all(target)
        finally:
            if self.snapshots.exists(key):
                self.snapshots.remove(key)
            os.rmdir(target)

    def _layer_from(self, state: StageState, make: Callable[[str], None]) -> BinaryIO | None:
        """Prepare a snapshot on the state's image, let `make` change it, return its diff."""
        parent = None
        if state.image_id:
            parent = self.images.get(state.image_id).chain_id
        key = f"build-{uuid.uuid4().hex}"
        target = tempfile.mkdtemp(prefix="dockyard-step-")
        try:
            mounts = self.snapshots.prepare(key, parent)
            mount_all(mounts, target)
            try:
                make(target)
            finally:
                unmount_all(target)
            upper = self.snapshots.upper_dir(key)
            if not os.listdir(upper):
                return None
            out = tempfile.TemporaryFile()
            write_diff([], upper, out)  # type: ignore[arg-type]
            out.seek(0)
            return out  # type: ignore[return-value]
        finally:
            if self.snapshots.exists(key):
                self.snapshots.remove(key)
            os.rmdir(target)

    # --- committing ---------------------------------------------------------------------

    def _nop(self, state: StageState, comment: str) -> dict[str, Any]:
        """The step's container config: the run config with the `#(nop)` comment as Cmd."""
        return dict(state.run, Cmd=[*state.shell, "#(nop) ", comment])

    def _probe(self, state: StageState, step: dict[str, Any]) -> bool:
        """A cached image for this step: use it (` ---> Using cache`)."""
        if self.options.nocache:
            return False
        created_by = " ".join(step["Cmd"])
        key = step_key(state.image_id, created_by, step)
        hit = self.engine.cache.lookup(key)
        if hit is None:
            hit = self._probe_cache_from(state, step, key)
        if hit is None:
            return False
        self.out(" ---> Using cache\n")
        image = self.images.get(hit)
        state.image_id = image.id
        state.doc = copy.deepcopy(image.config)
        return True

    def _probe_cache_from(self, state: StageState, step: dict[str, Any], key: str) -> str | None:
        created_by = " ".join(step["Cmd"])
        history = list(state.doc.get("history") or []) if state.image_id else []
        diff_ids = list((state.doc.get("rootfs") or {}).get("diff_ids") or [])
        for candidate in self.cache_from:
            match = history_match(history, diff_ids, candidate, created_by)
            if match is None:
                continue
            new_diff_ids, entry = match
            doc = self._doc(state, step)
            doc["history"] = [*history, entry]
            doc["rootfs"] = {"type": "layers", "diff_ids": new_diff_ids}
            layers = self.images.layers_of(candidate)[: len(new_diff_ids)]
            self.images.ensure_layers(layers)
            image = self.images.record_config(mf.canonical_json(doc), parent=state.image_id)
            self.engine.cache.store(key, image.id)
            return image.id
        return None

    def _doc(self, state: StageState, container_cfg: dict[str, Any]) -> dict[str, Any]:
        run = dict(state.run, Image=state.image_id)
        doc = {k: v for k, v in state.doc.items() if k not in ("config", "container_config")}
        doc.pop("container", None)
        doc.pop("comment", None)
        doc["config"] = compact(run)
        doc["container_config"] = compact(dict(container_cfg, Image=state.image_id))
        doc["created"] = now_rfc3339()
        doc.setdefault("history", [])
        doc.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        return doc

    def commit_meta(self, state: StageState, comment: str) -> None:
        step = self._nop(state, comment)
        if self._probe(state, step):
            return
        self.commit_layer(state, step, None)

    def _commit_scratch(self, state: StageState) -> None:
        """An empty image for a RUN on `scratch` (the container needs an image)."""
        doc = self._doc(state, state.run)
        image = self.images.record_config(mf.canonical_json(doc))
        state.image_id = image.id
        state.doc = doc

    def commit_layer(
        self,
        state: StageState,
        step: dict[str, Any],
        layer: BinaryIO | None,
        container: str | None = None,
    ) -> None:
        """Record the step's image: the parent's layers plus `layer` (None: empty_layer)."""
        created_by = " ".join(step["Cmd"])
        key = step_key(state.image_id, created_by, step)
        doc = self._doc(state, step)
        if container:
            doc["container"] = container
        entry: dict[str, Any] = {"created": doc["created"], "created_by": created_by}
        parent = self.images.get(state.image_id) if state.image_id else None
        layers: list[LayerDescriptor] = self.images.layers_of(parent) if parent else []
        if layer is None:
            entry["empty_layer"] = True
        else:
            layers.append(self.images.store_layer(layer))
            self.images.ensure_layers(layers)
        doc["history"] = [*list(doc.get("history") or []), entry]
        doc["rootfs"] = {"type": "layers", "diff_ids": [d.diff_id for d in layers]}
        image = self.images.record_config(
            mf.canonical_json(_ordered(doc)), parent=state.image_id or None
        )
        self.engine.cache.store(key, image.id)
        state.image_id = image.id
        state.doc = doc


def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(doc.items()))


def _expand_word(word: str, env: dict[str, str]) -> str:
    from dockyard.build.shell import SubstitutionError, expand

    try:
        return expand(word, env)
    except SubstitutionError:
        return word


def _expand_quiet(ins: Instruction | None, env: dict[str, str], default: str) -> str:
    if ins is None:
        return default
    try:
        return ins.expand(env).args[0]
    except DockerfileParseError:
        return default


def _parse_trigger(text: str) -> Instruction:
    try:
        dockerfile = parse(f"FROM scratch\n{text}\n")
    except DockerfileParseError as err:
        raise BuildError(f"failed to parse ONBUILD trigger {text!r}: {err.reason}") from None
    return dockerfile.stages[0].instructions[0]


def _valid_signal(sig: str) -> bool:
    if sig.isdecimal():
        return 0 < int(sig) < 65
    name = sig.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX"):
        return True
    return hasattr(signals.Signals, name) and name != "SIG_DFL"


def _is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def _download(url: str, directory: str) -> copier.Source:
    """ADD of a URL: the file, named after the URL's last path element, mode 0600."""
    name = posixpath.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise BuildError(f"cannot determine filename from url: {url}")
    path = os.path.join(directory, name)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as f:  # noqa: S310
            while chunk := resp.read(1 << 20):
                f.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except OSError as err:
        raise BuildError(f"ADD failed: {url}: {err}") from None
    os.chmod(path, 0o600)
    if modified:
        try:
            ts = parsedate_to_datetime(modified).timestamp()
            os.utime(path, (ts, ts))
        except (TypeError, ValueError):
            pass
    return copier.Source(name, path, False)


__all__ = ["BuildError", "BuildOptions", "Engine", "Executor", "json"]
