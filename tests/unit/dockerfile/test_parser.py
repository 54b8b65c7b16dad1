"""The Dockerfile parser: a table of Dockerfiles with their trees, and one of errors."""

from __future__ import annotations

import textwrap

import pytest

from dockyard.dockerfile.parser import DockerfileParseError, Heredoc, Instruction, parse


def tree(text: str) -> list:
    """Stages as (name, base, platform, [(keyword, args, flags, json_form), ...])."""
    df = parse(textwrap.dedent(text).lstrip("\n"))
    return [
        (
            stage.name,
            stage.base,
            stage.platform,
            [(i.keyword, i.args, i.flags, i.json_form) for i in stage.instructions],
        )
        for stage in df.stages
    ]


def only(text: str) -> Instruction:
    """The single instruction after `FROM scratch`."""
    df = parse("FROM scratch\n" + textwrap.dedent(text).lstrip("\n"))
    assert len(df.stages[0].instructions) == 1
    return df.stages[0].instructions[0]


# (id, Dockerfile, expected tree)
TREE_CASES = [
    ("from", "FROM busybox", [(None, "busybox", None, [])]),
    ("from-lowercase", "from busybox", [(None, "busybox", None, [])]),
    (
        "from-as-platform",
        "FROM --platform=linux/arm64 busybox:1.36 AS Builder",
        [("builder", "busybox:1.36", "linux/arm64", [])],
    ),
    ("from-scratch", "FROM scratch", [(None, "scratch", None, [])]),
    (
        "two-stages",
        """
        FROM busybox AS a
        RUN true
        FROM a
        COPY --from=a /x /y
        """,
        [
            ("a", "busybox", None, [("RUN", ["true"], {}, False)]),
            (None, "a", None, [("COPY", ["/x", "/y"], {"from": "a"}, False)]),
        ],
    ),
    (
        "run-shell-and-exec",
        """
        FROM scratch
        RUN echo "hello world" > /x
        RUN ["/bin/sh", "-c", "echo hi"]
        RUN []
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    ("RUN", ['echo "hello world" > /x'], {}, False),
                    ("RUN", ["/bin/sh", "-c", "echo hi"], {}, True),
                    ("RUN", [], {}, True),
                ],
            )
        ],
    ),
    (
        "malformed-json-is-shell-form",
        """
        FROM scratch
        CMD ["a", 'b']
        ENTRYPOINT [ "unterminated
        RUN [not json]
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    ("CMD", ["[\"a\", 'b']"], {}, False),
                    ("ENTRYPOINT", ['[ "unterminated'], {}, False),
                    ("RUN", ["[not json]"], {}, False),
                ],
            )
        ],
    ),
    (
        "continuations-comments-empty-lines",
        """
        FROM scratch
        RUN apt-get update \\
            # a comment inside
        \\
              \t
            && apt-get install -y x
        """,
        [
            (
                None,
                "scratch",
                None,
                [("RUN", ["apt-get update     && apt-get install -y x"], {}, False)],
            )
        ],
    ),
    (
        "trailing-blank-after-escape",
        "FROM scratch\nRUN a \\  \t\n  b\n",
        [(None, "scratch", None, [("RUN", ["a   b"], {}, False)])],
    ),
    (
        "crlf-line-endings",
        "FROM scratch\r\nRUN a \\\r\n b\r\nCMD x\r\n",
        [(None, "scratch", None, [("RUN", ["a  b"], {}, False), ("CMD", ["x"], {}, False)])],
    ),
    (
        "env-forms",
        """
        FROM scratch
        ENV A=1 B="two words" C='x' \\
            D=\\$E
        ENV LEGACY value with spaces
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    ("ENV", ["A", "1", "B", '"two words"', "C", "'x'", "D", "\\$E"], {}, False),
                    ("ENV", ["LEGACY", "value with spaces"], {}, False),
                ],
            )
        ],
    ),
    (
        "label-forms",
        """
        FROM scratch
        LABEL "com.example.vendor"="ACME" version=1.0 description="a b"
        LABEL legacy value
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    (
                        "LABEL",
                        [
                            '"com.example.vendor"',
                            '"ACME"',
                            "version",
                            "1.0",
                            "description",
                            '"a b"',
                        ],
                        {},
                        False,
                    ),
                    ("LABEL", ["legacy", "value"], {}, False),
                ],
            )
        ],
    ),
    (
        "arg-meta-and-stage",
        """
        ARG VERSION=1.36 OTHER
        FROM busybox:$VERSION
        ARG VERSION
        ARG A=1 B="x y"
        """,
        [
            (
                None,
                "busybox:$VERSION",
                None,
                [("ARG", ["VERSION"], {}, False), ("ARG", ["A=1", 'B="x y"'], {}, False)],
            )
        ],
    ),
    (
        "copy-add-flags",
        """
        FROM scratch
        COPY --chown=app:app --chmod=0755 --link src/ /app/
        ADD --chown=1000 --checksum=sha256:abc https://example.com/x.tgz /x
        COPY ["a b", "/dest dir/"]
        COPY --exclude=*.md --exclude=*.txt . /src
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    (
                        "COPY",
                        ["src/", "/app/"],
                        {"chown": "app:app", "chmod": "0755", "link": True},
                        False,
                    ),
                    (
                        "ADD",
                        ["https://example.com/x.tgz", "/x"],
                        {"chown": "1000", "checksum": "sha256:abc"},
                        False,
                    ),
                    ("COPY", ["a b", "/dest dir/"], {}, True),
                    ("COPY", [".", "/src"], {"exclude": ["*.md", "*.txt"]}, False),
                ],
            )
        ],
    ),
    (
        "run-mount-flags",
        """
        FROM scratch
        RUN --mount=type=cache,target=/root/.cache --mount=type=tmpfs,target=/t --network=none make
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    (
                        "RUN",
                        ["make"],
                        {
                            "mount": ["type=cache,target=/root/.cache", "type=tmpfs,target=/t"],
                            "network": "none",
                        },
                        False,
                    )
                ],
            )
        ],
    ),
    (
        "quoted-flag-value",
        'FROM scratch\nCOPY --chown="a b" x y\n',
        [(None, "scratch", None, [("COPY", ["x", "y"], {"chown": "a b"}, False)])],
    ),
    (
        "volume-expose-user-workdir",
        """
        FROM scratch
        VOLUME /data /logs
        VOLUME ["/a", "/b"]
        EXPOSE 80 443/tcp 53/udp
        USER app:app
        WORKDIR /srv/app
        STOPSIGNAL SIGINT
        MAINTAINER Jane Doe <jane@example.com>
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    ("VOLUME", ["/data", "/logs"], {}, False),
                    ("VOLUME", ["/a", "/b"], {}, True),
                    ("EXPOSE", ["80", "443/tcp", "53/udp"], {}, False),
                    ("USER", ["app:app"], {}, False),
                    ("WORKDIR", ["/srv/app"], {}, False),
                    ("STOPSIGNAL", ["SIGINT"], {}, False),
                    ("MAINTAINER", ["Jane Doe <jane@example.com>"], {}, False),
                ],
            )
        ],
    ),
    (
        "cmd-entrypoint-shell",
        """
        FROM scratch
        SHELL ["/bin/bash", "-c"]
        ENTRYPOINT ["/entry"]
        CMD echo $HOME
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    ("SHELL", ["/bin/bash", "-c"], {}, True),
                    ("ENTRYPOINT", ["/entry"], {}, True),
                    ("CMD", ["echo $HOME"], {}, False),
                ],
            )
        ],
    ),
    (
        "healthcheck",
        """
        FROM scratch
        HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --start-interval=1s --retries=3 CMD curl -f http://localhost/
        HEALTHCHECK CMD ["/bin/check", "x"]
        HEALTHCHECK NONE
        """,
        [
            (
                None,
                "scratch",
                None,
                [
                    (
                        "HEALTHCHECK",
                        ["CMD", "curl -f http://localhost/"],
                        {
                            "interval": "30s",
                            "timeout": "3s",
                            "start-period": "5s",
                            "start-interval": "1s",
                            "retries": "3",
                        },
                        False,
                    ),
                    ("HEALTHCHECK", ["CMD", "/bin/check", "x"], {}, True),
                    ("HEALTHCHECK", ["NONE"], {}, False),
                ],
            )
        ],
    ),
    (
        "unknown-directive-is-a-comment",
        """
        # foo=bar
        # escape=`
        FROM scratch
        RUN a \\
          b
        """,
        [(None, "scratch", None, [("RUN", ["a   b"], {}, False)])],
    ),
    (
        "stage-by-index-and-name",
        """
        FROM busybox AS base
        FROM base AS second
        FROM scratch
        COPY --from=1 /a /b
        """,
        [
            ("base", "busybox", None, []),
            ("second", "base", None, []),
            (None, "scratch", None, [("COPY", ["/a", "/b"], {"from": "1"}, False)]),
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in TREE_CASES], ids=[c[0] for c in TREE_CASES]
)
def test_tree(text: str, expected: list) -> None:
    assert tree(text) == expected


def test_escape_directive_backtick() -> None:
    df = parse("# escape=`\n\nFROM scratch\nRUN dir c:\\ `\n  /w\nCOPY a\\b c:\\x\\\n")
    assert df.directives == {"escape": "`"}
    assert df.escape == "`"
    run, copy = df.stages[0].instructions
    assert run.args == ["dir c:\\   /w"]
    assert (run.line, run.end_line) == (4, 5)
    assert copy.args == ["a\\b", "c:\\x\\"]
    assert copy.expand({}).args == ["a\\b", "c:\\x\\"]


def test_directives_syntax_and_check_are_read_and_ignored() -> None:
    df = parse("# syntax=docker/dockerfile:1.7\n#check=skip=all\nFROM scratch\n")
    assert df.directives == {"syntax": "docker/dockerfile:1.7", "check": "skip=all"}


def test_directive_after_blank_line_or_instruction_is_a_comment() -> None:
    df = parse("\n# escape=`\nFROM scratch\nRUN a \\\n b\n")
    assert df.directives == {}
    assert df.stages[0].instructions[0].args == ["a  b"]
    df = parse("FROM scratch\n# escape=`\nRUN a `\n")
    assert df.directives == {}
    assert df.stages[0].instructions[0].args == ["a `"]


def test_empty_continuation_line_warning() -> None:
    df = parse("FROM scratch\nRUN a \\\n\n  b\nRUN c \\\n# comment\n  d\n")
    assert df.warnings == ["Empty continuation line found in: RUN a   b"]


def test_bom_is_ignored() -> None:
    assert parse("\ufeffFROM scratch").stages[0].base == "scratch"
    assert parse(b"\xef\xbb\xbf# escape=`\nFROM scratch").escape == "`"


def test_lines_and_original() -> None:
    df = parse("# comment\n\nFROM scratch\n\nRUN a \\\n  b \\\n  c\nCMD x\n")
    run, cmd = df.stages[0].instructions
    assert (run.line, run.end_line, run.original) == (5, 7, "RUN a   b   c")
    assert (cmd.line, cmd.end_line) == (8, 8)
    assert df.stages[0].from_instruction is not None
    assert df.stages[0].from_instruction.line == 3


def test_heredoc_run() -> None:
    ins = only(
        """
        RUN <<EOF
        echo $HOME
          indented
        EOF
        """
    )
    assert ins.args == ["<<EOF"]
    assert ins.heredocs == [Heredoc("EOF", "echo $HOME\n  indented\n", expand=True)]
    assert (ins.line, ins.end_line) == (2, 5)


def test_heredoc_quoted_and_chomped_and_several() -> None:
    df = parse(
        "FROM scratch\n"
        'RUN <<-"A" python3 && cat <<B > /b && cat 3<<C\n'
        "\t\tprint('$x')\n"
        "\tA\n"
        "b $y\n"
        "B\n"
        "c\n"
        "C\n"
        "CMD done\n"
    )
    run, cmd = df.stages[0].instructions
    assert run.heredocs == [
        Heredoc("A", "print('$x')\n", expand=False, chomp=True),
        Heredoc("B", "b $y\n", expand=True),
        Heredoc("C", "c\n", expand=True, fd=3),
    ]
    assert (run.line, run.end_line) == (2, 8)
    assert (cmd.keyword, cmd.line) == ("CMD", 9)


def test_heredoc_partially_quoted_name_disables_expansion() -> None:
    ins = only("RUN <<E'O'F\nx\nEOF\n")
    assert ins.heredocs == [Heredoc("EOF", "x\n", expand=False)]


def test_heredoc_copy() -> None:
    ins = only("COPY --chmod=0644 <<EOF /etc/motd\nhello\nEOF\n")
    assert ins.args == ["<<EOF", "/etc/motd"]
    assert ins.flags == {"chmod": "0644"}
    assert ins.heredocs == [Heredoc("EOF", "hello\n")]


def test_copy_sources() -> None:
    ins = only("COPY a <<one b <<-two /dst/\n1\none\n\t2\n\ttwo\n")
    sources, dest = ins.copy_sources()
    assert sources == ["a", Heredoc("one", "1\n"), "b", Heredoc("two", "2\n", chomp=True)]
    assert dest == "/dst/"
    assert only('COPY ["<<x", "/d"]').copy_sources() == (["<<x"], "/d")


def test_no_heredoc_in_json_form_or_other_instructions() -> None:
    assert only('RUN ["cat", "<<EOF"]').heredocs == []
    assert only("CMD cat <<EOF").heredocs == []
    assert only("RUN echo '<<EOF'").heredocs == []
    assert only("RUN cat <<< x").heredocs == []


def test_onbuild_trigger() -> None:
    ins = only("ONBUILD COPY --chown=1 . /app")
    assert ins.args == ["COPY --chown=1 . /app"]
    assert ins.trigger is not None
    assert (ins.trigger.keyword, ins.trigger.args, ins.trigger.flags) == (
        "COPY",
        [".", "/app"],
        {"chown": "1"},
    )


def test_meta_args_and_pairs() -> None:
    df = parse('ARG A=1 B\nARG C="x y"\nFROM scratch\nENV K=v L="a b"\n')
    assert [a.arg_pairs() for a in df.meta_args] == [[("A", "1"), ("B", None)], [("C", '"x y"')]]
    env = df.stages[0].instructions[0]
    assert env.pairs() == [("K", "v"), ("L", '"a b"')]
    assert env.expand({}).pairs() == [("K", "v"), ("L", "a b")]


def test_expand_per_keyword() -> None:
    env = {"PORTS": "80 443", "USER": "app", "DIR": "/srv", "V": "1.0", "BASE": "busybox"}
    df = parse(
        "ARG BASE\nFROM --platform=$P ${BASE}:latest AS x\n"
        "EXPOSE $PORTS 53/udp\nUSER $USER\nWORKDIR ${DIR}/app\nLABEL v=$V 'k'='$V'\n"
        "COPY --chown=$USER:$USER $DIR/a '/b'\nRUN echo $USER\nCMD [\"$USER\"]\n"
        "ARG X=$V\nSTOPSIGNAL ${SIG:-SIGTERM}\nVOLUME $DIR/data\n"
    )
    frm = df.stages[0].from_instruction
    assert frm is not None
    assert frm.expand(env).args == ["busybox:latest", "AS", "x"]
    assert frm.expand(env).flags == {"platform": ""}
    got = [i.expand(env) for i in df.stages[0].instructions]
    assert got[0].args == ["80", "443", "53/udp"]
    assert got[1].args == ["app"]
    assert got[2].args == ["/srv/app"]
    assert got[3].pairs() == [("v", "1.0"), ("k", "$V")]
    assert got[4].args == ["/srv/a", "/b"] and got[4].flags == {"chown": "app:app"}
    assert got[5].args == ["echo $USER"]
    assert got[6].args == ["$USER"]
    assert got[7].arg_pairs() == [("X", "1.0")]
    assert got[8].args == ["SIGTERM"]
    assert got[9].args == ["/srv/data"]


def test_expand_error_names_line() -> None:
    df = parse("FROM scratch\nWORKDIR ${DIR:?must be set}\n")
    with pytest.raises(DockerfileParseError) as info:
        df.stages[0].instructions[0].expand({})
    assert info.value.line == 2
    assert str(info.value) == (
        'dockerfile parse error on line 2: failed to process "${DIR:?must be set}": '
        "DIR: must be set"
    )


def test_healthcheck_config() -> None:
    ins = only('HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD ["true"]')
    assert ins.healthcheck() == {
        "Test": ["CMD", "true"],
        "Interval": 90_000_000_000,
        "Timeout": 500_000_000,
        "StartPeriod": 0,
        "StartInterval": 0,
        "Retries": 2,
    }
    assert only("HEALTHCHECK CMD curl x").healthcheck()["Test"] == ["CMD-SHELL", "curl x"]
    assert only("HEALTHCHECK none").healthcheck() == {"Test": ["NONE"]}


def test_empty_run_and_cmd_parse_as_docker_does() -> None:
    assert only("RUN").args == [] and not only("RUN").json_form
    assert only("CMD").args == []
    assert only("ENTRYPOINT []").json_form


def test_stage_lookup() -> None:
    df = parse("FROM a AS One\nFROM b\n")
    assert df.stage("one") is df.stages[0]
    assert df.stage("ONE") is df.stages[0]
    assert df.stage("1") is df.stages[1]
    assert df.stage("2") is None and df.stage("two") is None


# (id, Dockerfile, line, reason)
ERROR_CASES = [
    (
        "unknown-instruction",
        "FROM a\n\nFOO bar",
        3,
        "unknown instruction: FOO (did you mean FROM?)",
    ),
    ("unknown-instruction-far", "FROM a\nXYZZY bar", 2, "unknown instruction: XYZZY"),
    (
        "unknown-instruction-lowercase",
        "FROM a\nrunn x",
        2,
        "unknown instruction: runn (did you mean run?)",
    ),
    (
        "unknown-instruction-mixed",
        "FROM a\nWorkDir2 x",
        2,
        "unknown instruction: WorkDir2 (did you mean workdir?)",
    ),
    ("from-no-args", "FROM", 1, "FROM requires either one or three arguments"),
    ("from-two-args", "FROM a b", 1, "FROM requires either one or three arguments"),
    ("from-four-args", "FROM a AS b c", 1, "FROM requires either one or three arguments"),
    (
        "from-bad-stage-name",
        "FROM a AS 1st",
        1,
        'invalid name for build stage: "1st", name can\'t start with a number or contain symbols',
    ),
    ("no-stage", "# c\nRUN x", 2, "no build stage in current context"),
    ("empty-file", "", 1, "file with no instructions"),
    ("only-comments", "# a\n\n# b\n", 3, "file with no instructions"),
    ("env-blank-name", "FROM a\nENV =x", 2, "ENV names can not be blank"),
    ("env-one-word", "FROM a\nENV x", 2, "ENV must have two arguments"),
    ("env-no-args", "FROM a\nENV", 2, "ENV requires at least one argument"),
    (
        "env-mixed-forms",
        "FROM a\nENV a=1 b",
        2,
        'Syntax error - can\'t find = in "b". Must be of the form: name=value',
    ),
    ("label-no-args", "FROM a\nLABEL", 2, "LABEL requires at least one argument"),
    ("label-blank-name", "FROM a\nLABEL =x", 2, "LABEL names can not be blank"),
    ("arg-no-args", "ARG", 1, "ARG requires at least one argument"),
    ("expose-no-args", "FROM a\nEXPOSE", 2, "EXPOSE requires at least one argument"),
    ("volume-no-args", "FROM a\nVOLUME", 2, "VOLUME requires at least one argument"),
    ("volume-empty", 'FROM a\nVOLUME [""]', 2, "VOLUME specified can not be an empty string"),
    ("user-no-args", "FROM a\nUSER", 2, "USER requires exactly one argument"),
    ("workdir-no-args", "FROM a\nWORKDIR", 2, "WORKDIR requires exactly one argument"),
    ("stopsignal-no-args", "FROM a\nSTOPSIGNAL", 2, "STOPSIGNAL requires exactly one argument"),
    ("maintainer-no-args", "FROM a\nMAINTAINER", 2, "MAINTAINER requires exactly one argument"),
    (
        "copy-one-arg",
        "FROM a\nCOPY x",
        2,
        "COPY requires at least two arguments, but only one was provided. "
        "Destination could not be determined.",
    ),
    (
        "add-no-arg",
        "FROM a\nADD",
        2,
        "ADD requires at least two arguments, but only one was provided. "
        "Destination could not be determined.",
    ),
    (
        "copy-heredoc-dest",
        "FROM a\nCOPY x <<EOF\nhi\nEOF\n",
        2,
        "COPY cannot accept a heredoc as a destination",
    ),
    (
        "shell-not-json",
        "FROM a\nSHELL /bin/sh -c",
        2,
        "SHELL requires the arguments to be in JSON form",
    ),
    ("shell-empty", "FROM a\nSHELL []", 2, "SHELL requires at least one argument"),
    (
        "json-not-strings",
        'FROM a\nCMD ["a", 1]',
        2,
        "when using JSON array syntax, arrays must be comprised of strings only",
    ),
    (
        "onbuild-onbuild",
        "FROM a\nONBUILD ONBUILD RUN x",
        2,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    ),
    ("onbuild-from", "FROM a\nONBUILD FROM b", 2, "FROM isn't allowed as an ONBUILD trigger"),
    (
        "onbuild-maintainer",
        "FROM a\nONBUILD maintainer x",
        2,
        "MAINTAINER isn't allowed as an ONBUILD trigger",
    ),
    ("onbuild-empty", "FROM a\nONBUILD", 2, "ONBUILD requires at least one argument"),
    ("onbuild-unknown", "FROM a\nONBUILD XYZZY", 2, "unknown instruction: XYZZY"),
    ("healthcheck-empty", "FROM a\nHEALTHCHECK", 2, "HEALTHCHECK requires at least one argument"),
    (
        "healthcheck-none-args",
        "FROM a\nHEALTHCHECK NONE x",
        2,
        "HEALTHCHECK NONE takes no arguments",
    ),
    (
        "healthcheck-bad-type",
        "FROM a\nHEALTHCHECK RUN x",
        2,
        'Unknown type "RUN" in HEALTHCHECK (try CMD)',
    ),
    ("healthcheck-no-cmd", "FROM a\nHEALTHCHECK CMD", 2, "Missing command after HEALTHCHECK CMD"),
    (
        "healthcheck-bad-duration",
        "FROM a\nHEALTHCHECK --interval=5 CMD x",
        2,
        'time: missing unit in duration "5"',
    ),
    (
        "healthcheck-tiny-interval",
        "FROM a\nHEALTHCHECK --timeout=1us CMD x",
        2,
        'Interval "timeout" cannot be less than 1ms',
    ),
    (
        "healthcheck-negative-retries",
        "FROM a\nHEALTHCHECK --retries=-1 CMD x",
        2,
        "--retries cannot be negative (-1)",
    ),
    ("unknown-flag", "FROM a\nCOPY --foo=1 a b", 2, "unknown flag: --foo (did you mean from?)"),
    (
        "unknown-flag-suggest",
        "FROM a\nCOPY --chownn=1 a b",
        2,
        "unknown flag: --chownn (did you mean chown?)",
    ),
    ("flag-on-env", "FROM a\nENV --x=1 a=b", 2, "unknown flag: --x"),
    ("flag-missing-value", "FROM a\nCOPY --from a b", 2, "missing a value on flag: --from"),
    ("flag-duplicate", "FROM a\nCOPY --from=a --from=b a b", 2, "duplicate flag specified: --from"),
    (
        "flag-bad-bool",
        "FROM a\nCOPY --link=yes a b",
        2,
        "expecting boolean value for flag --link, not: yes",
    ),
    ("escape-invalid", "# escape=x\nFROM a", 1, "invalid escape token 'x' does not match ` or \\"),
    (
        "escape-twice",
        "# escape=`\n# escape=`\nFROM a",
        2,
        "only one escape parser directive can be used",
    ),
    ("heredoc-unterminated", "FROM a\nRUN <<EOF\nx\n", 2, "unterminated heredoc"),
    ("error-after-continuation", "FROM a\nRUN x \\\n y\nXYZZY", 4, "unknown instruction: XYZZY"),
]


@pytest.mark.parametrize(
    ("text", "line", "reason"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_errors(text: str, line: int, reason: str) -> None:
    with pytest.raises(DockerfileParseError) as info:
        parse(text)
    assert (info.value.line, info.value.reason) == (line, reason)
    assert str(info.value) == f"dockerfile parse error on line {line}: {reason}"
    assert info.value.status == 400
