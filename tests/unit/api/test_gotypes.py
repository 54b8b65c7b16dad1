"""Request bodies are checked as dockerd's Go decoder checks them (api/gotypes.py): kinds and
integer ranges of every field, Go's message, and the table generated from Docker's spec."""

from __future__ import annotations

import json

import pytest

from dockyard.api import gotypes
from dockyard.errors import InvalidParameter
from support import ENGINE_API_SPEC

SPEC = ENGINE_API_SPEC


def _check(text: str, root: str = "CreateRequest") -> None:
    gotypes.check(json.loads(text, parse_float=gotypes.GoFloat), root)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '{"HostConfig": {"Memory": 1e+26}}',
            "json: cannot unmarshal number 1e+26 into Go struct field "
            "HostConfig.HostConfig.Memory of type int64",
        ),
        (
            '{"HostConfig": {"Memory": 9223372036854775808}}',
            "number 9223372036854775808 into Go struct field HostConfig.HostConfig.Memory",
        ),
        ('{"HostConfig": {"Memory": 1.5}}', "number 1.5 into Go struct field"),
        ('{"HostConfig": {"Memory": 1.0}}', "number 1.0 into Go struct field"),
        ('{"HostConfig": {"Memory": "1g"}}', "cannot unmarshal string into Go struct field"),
        ('{"HostConfig": {"BlkioWeight": -1}}', "HostConfig.HostConfig.BlkioWeight of type uint16"),
        ('{"HostConfig": {"BlkioWeight": 65536}}', "number 65536 into"),
        (
            '{"HostConfig": {"ConsoleSize": [-1, 2]}}',
            "HostConfig.HostConfig.ConsoleSize of type uint",
        ),
        ('{"HostConfig": {"OomScoreAdj": true}}', "bool into Go struct field"),
        ('{"HostConfig": {"PidsLimit": 1e19}}', "HostConfig.HostConfig.PidsLimit of type int64"),
        (
            '{"HostConfig": {"RestartPolicy": {"MaximumRetryCount": 1e30}}}',
            "RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int",
        ),
        (
            '{"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 1e99}]}}',
            "Ulimit.HostConfig.Ulimits.Soft of type int64",
        ),
        (
            '{"HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t",'
            ' "TmpfsOptions": {"Mode": -1}}]}}',
            "TmpfsOptions.HostConfig.Mounts.TmpfsOptions.Mode of type fs.FileMode",
        ),
        ('{"HostConfig": {"Sysctls": {"a": 1}}}', "HostConfig.HostConfig.Sysctls of type string"),
        ('{"HostConfig": "x"}', "CreateRequest.HostConfig of type container.HostConfig"),
        ('{"StopTimeout": 1e19}', "CreateRequest.StopTimeout of type int"),
        ('{"Tty": "yes"}', "string into Go struct field CreateRequest.Tty of type bool"),
        ('{"Env": "A=1"}', "CreateRequest.Env of type []string"),
        ('{"Cmd": [1]}', "number into Go struct field CreateRequest.Cmd of type string"),
        (
            '{"Healthcheck": {"Interval": 1e40}}',
            "HealthcheckConfig.Healthcheck.Interval of type time.Duration",
        ),
        (
            '{"NetworkingConfig": {"EndpointsConfig": {"n": {"IPPrefixLen": 1e20}}}}',
            "EndpointSettings.NetworkingConfig.EndpointsConfig.IPPrefixLen of type int",
        ),
    ],
)
def test_refused_as_go_refuses(body, message):
    with pytest.raises(InvalidParameter) as e:
        _check(body)
    assert e.value.message.startswith("invalid JSON: json: cannot unmarshal ")
    assert message in e.value.message


@pytest.mark.parametrize(
    "body",
    [
        '{"HostConfig": {"Memory": 9223372036854775807, "MemorySwap": -1}}',
        '{"HostConfig": {"BlkioWeight": 65535, "ConsoleSize": [0, 80]}}',
        '{"Cmd": "echo hi", "Entrypoint": ["sh", "-c"], "Env": null, "Unknown": 1e99}',
        '{"HostConfig": {"memory": 1024}}',
        '{"Healthcheck": {"Interval": 1000000000, "Retries": 3}}',
    ],
)
def test_accepted_as_go_accepts(body):
    _check(body)


def test_case_insensitive_field_names_are_checked_too():
    with pytest.raises(InvalidParameter, match="HostConfig.memory of type int64"):
        _check('{"HostConfig": {"memory": 1e26}}')


def test_other_roots():
    with pytest.raises(InvalidParameter, match="UpdateConfig.Memory of type int64"):
        _check('{"Memory": 1e26}', "UpdateConfig")
    with pytest.raises(InvalidParameter, match="ExecOptions.ConsoleSize of type uint"):
        _check('{"ConsoleSize": [1, -5]}', "ExecOptions")
    with pytest.raises(InvalidParameter, match="CreateOptions.Labels of type string"):
        _check('{"Labels": {"a": 1}}', "VolumeCreateOptions")
    with pytest.raises(InvalidParameter, match="Go value of type container.CreateRequest"):
        _check("[]")


def test_routes_map_to_go_structs():
    assert gotypes.root_for("POST", "/containers/create") == "CreateRequest"
    assert gotypes.root_for("post", "/v{api_version:[0-9]+}/containers/create") == "CreateRequest"
    assert gotypes.root_for("GET", "/containers/json") is None


def test_table_is_the_one_generated_from_the_spec():
    yaml = pytest.importorskip("yaml")
    with open(SPEC) as f:
        assert gotypes.generate(yaml.safe_load(f)) == gotypes.STRUCTS
