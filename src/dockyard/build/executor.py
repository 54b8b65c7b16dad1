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
import dataclasses
import os
import posixpath
import signal as signals
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dockyard.build import copier
from dockyard.build.buildargs import BuildArgs
from dockyard.build.commit import Committer
from dockyard.build.contextdir import BuildContext
from dockyard.build.imageconfig import (
    container_config,
    ensure_path,
    go_strings,
    go_values,
    healthcheck_comment,
    parse_ports,
    update_env,
)
from dockyard.build.runner import PIPES_DIR, run_step
from dockyard.build.state import BuildError, BuildOptions, Engine, StageState
from dockyard.dockerfile.parser import (
    Dockerfile,
    DockerfileParseError,
    Heredoc,
    Instruction,
    Stage,
    parse,
)
from dockyard.dockerfile.shell import Lexer
from dockyard.errors import NotFound
from dockyard.images import manifest as mf
from dockyard.images.service import Image, short_id


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
        cache_from = [self.images.get(ref) for ref in options.cachefrom if
                      self.images.exists(ref)]  # fmt: skip
        self.commit = Committer(engine, options, out, cache_from)

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
        ref = dockerfile.stage(base) if not base.isdecimal() else None  # FROM: names only
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
        handlers: dict[str, Callable[[StageState, Instruction], None]] = {
            "ADD": self._add,
            "ARG": self._arg,
            "CMD": self._cmd,
            "COPY": self._copy,
            "ENTRYPOINT": self._entrypoint,
            "ENV": self._env,
            "EXPOSE": self._expose,
            "HEALTHCHECK": self._healthcheck,
            "LABEL": self._label,
            "MAINTAINER": self._maintainer,
            "ONBUILD": self._onbuild,
            "RUN": self._run,
            "SHELL": self._shell,
            "STOPSIGNAL": self._stopsignal,
            "USER": self._user,
            "VOLUME": self._volume,
            "WORKDIR": self._workdir,
        }
        handler = handlers.get(ins.keyword.upper())
        if handler is None:
            raise BuildError(f"unknown instruction: {ins.keyword}")
        handler(state, ins)

    def _env(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        parts = []
        for key, value in ins.pairs():
            state.run["Env"] = update_env(state.run.get("Env"), key, value)
            parts.append(f"{key}={value}")
        self.commit.commit_meta(state, "ENV " + " ".join(parts))

    def _label(self, state: StageState, ins: Instruction, expand: bool = True) -> None:
        if expand:
            ins = ins.expand(state.env())
        labels = dict(state.run.get("Labels") or {})
        comment = "LABEL"
        for key, value in ins.pairs():
            labels[key] = value
            comment += f" {key}={value}"
        state.run["Labels"] = labels
        self.commit.commit_meta(state, comment)

    def _maintainer(self, state: StageState, ins: Instruction) -> None:
        state.doc["author"] = ins.args[0]
        self.commit.commit_meta(state, "MAINTAINER " + ins.args[0])

    def _expose(self, state: StageState, ins: Instruction) -> None:
        # Docker's parser sorts the words as written (before substitution), for the cache.
        ins = dataclasses.replace(ins, args=sorted(ins.args)).expand(state.env())
        ports = dict(state.run.get("ExposedPorts") or {})
        for port in parse_ports(ins.args):
            ports[port] = {}
        state.run["ExposedPorts"] = ports
        self.commit.commit_meta(state, "EXPOSE " + " ".join(ins.args))

    def _user(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        state.run["User"] = ins.args[0]
        self.commit.commit_meta(state, f"USER {ins.args[0]}")

    def _volume(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        volumes = dict(state.run.get("Volumes") or {})
        for v in ins.args:
            v = v.strip()
            if not v:
                raise BuildError("VOLUME specified can not be an empty string")
            volumes[v] = {}
        state.run["Volumes"] = volumes
        self.commit.commit_meta(state, f"VOLUME {go_values(ins.args)}")

    def _stopsignal(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        sig = ins.args[0]
        if not _valid_signal(sig):
            raise BuildError(f"Invalid signal: {sig}")
        state.run["StopSignal"] = sig
        self.commit.commit_meta(state, f"STOPSIGNAL {sig}")

    def _arg(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        parts = []
        for name, default in ins.arg_pairs():
            state.args.declare(name, default)
            parts.append(name if default is None else f"{name}={default}")
        self.commit.commit_meta(state, "ARG " + " ".join(parts))

    def _command(self, state: StageState, ins: Instruction) -> list[str]:
        if ins.json_form:
            return list(ins.args)
        return [*state.shell, ins.args[0] if ins.args else ""]

    def _cmd(self, state: StageState, ins: Instruction) -> None:
        cmd = self._command(state, ins)
        state.run["Cmd"] = cmd
        if ins.args:
            state.cmd_set = True
        self.commit.commit_meta(state, f"CMD {go_strings(cmd)}")

    def _entrypoint(self, state: StageState, ins: Instruction) -> None:
        entrypoint = self._command(state, ins)
        state.run["Entrypoint"] = entrypoint
        if not state.cmd_set:
            state.run["Cmd"] = None
        self.commit.commit_meta(state, f"ENTRYPOINT {go_strings(entrypoint)}")

    def _shell(self, state: StageState, ins: Instruction) -> None:
        state.run["Shell"] = list(ins.args)
        self.commit.commit_meta(state, f"SHELL {go_values(ins.args)}")

    def _healthcheck(self, state: StageState, ins: Instruction) -> None:
        old = state.run.get("Healthcheck")
        if old and old.get("Test") and old["Test"][0] != "NONE":
            self.out(f"Note: overriding previous HEALTHCHECK: {go_values(old['Test'])}\n")
        hc = {k: v for k, v in ins.healthcheck().items() if v not in (0, None)}
        state.run["Healthcheck"] = hc
        self.commit.commit_meta(state, healthcheck_comment(hc))

    def _onbuild(self, state: StageState, ins: Instruction) -> None:
        expression = ins.args[0]
        state.run["OnBuild"] = [*(state.run.get("OnBuild") or []), expression]
        self.commit.commit_meta(state, "ONBUILD " + expression)

    def _workdir(self, state: StageState, ins: Instruction) -> None:
        ins = ins.expand(state.env())
        path = ins.args[0]
        current = state.run.get("WorkingDir") or "/"
        state.run["WorkingDir"] = posixpath.normpath(posixpath.join("/", current, path))
        workdir = state.run["WorkingDir"]
        step = self.commit.nop(state, f"WORKDIR {workdir}", one_arg=True)
        if self.commit.probe(state, step):
            return

        def make(rootfs: str) -> None:
            copier.make_dirs(rootfs, workdir)

        self.commit.commit_layer(state, step, self.commit.layer_from(state, make))

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
        pipes: dict[str, str] = {}
        script = _script_heredoc(ins)
        if script is not None:  # run as a file, by its #! line, as BuildKit does
            pipes[script.name] = script.content
            cmd = [posixpath.join(PIPES_DIR, script.name)]
        if build_env:
            history = sorted(f"{k}={v}" for k, v in state.args.in_effect(env).items())
            saved = [f"|{len(history)}", *history, *cmd]
        step = dict(state.run, Cmd=saved, Entrypoint=None)
        if self.commit.probe(state, step):
            return
        if not state.image_id:
            self.commit.commit_scratch(state)
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
            pipes=pipes,
        )
        if self.options.rm or self.options.forcerm:
            self.out(f"Removing intermediate container {short_id(result.container_id)}\n")
        try:
            self.commit.commit_layer(state, step, result.layer, container=result.container_id)
        finally:
            if result.layer is not None:
                result.layer.close()

    def _run_command(self, state: StageState, ins: Instruction) -> list[str]:
        if ins.json_form:
            return list(ins.args)
        line = ins.args[0] if ins.args else ""
        if ins.heredocs:
            if _single_heredoc(ins):  # its content is the script the shell runs
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
            step = self.commit.nop(
                state, f"{cmd} {chmod_part}{chown_part}{digest} in {ins.args[-1]} ", one_arg=True
            )
            if self.commit.probe(state, step):
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

            self.commit.commit_layer(state, step, self.commit.layer_from(state, make))

    @contextmanager
    def _sources(
        self, state: StageState, ins: Instruction, cmd: str, srcs: list[str], from_ref: Any
    ) -> Iterator[tuple[list[copier.Source], Callable[[copier.Source], str]]]:
        tmp: str | None = None
        try:
            if isinstance(from_ref, str) and from_ref:
                with self.commit.mounted_image(self._from_image(state, from_ref)) as root:
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
                    content = doc.content
                    if doc.expand:  # an unquoted marker: variables are substituted
                        content = Lexer(raw_quotes=True, raw_escapes=True).process_word(
                            content, state.env()
                        )
                    with open(path, "w") as f:
                        f.write(content)
                    os.chmod(path, 0o644)
                    extra.append(copier.Source(doc.name, tmp, "/" + doc.name, False))
                elif cmd == "ADD" and copier.is_url(src):
                    tmp = tmp or tempfile.mkdtemp(prefix="dockyard-add-")
                    extra.append(copier.download(src, tmp))
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


def _single_heredoc(ins: Instruction) -> bool:
    """A shell-form RUN that is one heredoc marker alone (`RUN <<EOF`)."""
    if ins.json_form or len(ins.heredocs) != 1 or not ins.args:
        return False
    markers = ins.args[0].split()
    return len(markers) == 1 and markers[0].startswith("<<")


def _script_heredoc(ins: Instruction) -> Heredoc | None:
    """The heredoc of `RUN <<EOF` when it starts with `#!`: BuildKit runs it as a file."""
    if _single_heredoc(ins) and ins.heredocs[0].content.startswith("#!"):
        return ins.heredocs[0]
    return None


def _expand_word(word: str, env: dict[str, str]) -> str:
    from dockyard.dockerfile.shell import SubstitutionError, expand

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
    """An ONBUILD trigger of the base image as an instruction (Docker's checks)."""
    keyword = text.strip().split(None, 1)[0].upper() if text.strip() else ""
    if keyword == "ONBUILD":
        raise BuildError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if keyword in ("FROM", "MAINTAINER"):
        raise BuildError(f"{keyword} isn't allowed as an ONBUILD trigger")
    try:
        dockerfile = parse(f"FROM scratch\n{text}\n")
    except DockerfileParseError as err:
        raise BuildError(err.reason) from None
    instructions = dockerfile.stages[0].instructions if dockerfile.stages else []
    if len(instructions) != 1:
        raise BuildError("onbuild trigger should be a single expression")
    return instructions[0]


def _valid_signal(sig: str) -> bool:
    if sig.isdecimal():
        return 0 < int(sig) < 65
    name = sig.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX"):
        return True
    return hasattr(signals.Signals, name) and name != "SIG_DFL"
