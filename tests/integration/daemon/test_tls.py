"""The API on TCP only with TLS and client certificates (--tlsverify), as dockerd."""

from __future__ import annotations

import os
import socket
import subprocess

from daemon_fixture import DOCKER, running_daemon


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certs(d: str) -> None:
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        cwd=d,
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}-key.pem",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=d,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
            cwd=d,
        )


def _port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_tcp_with_tlsverify(tmp_path):
    certs = str(tmp_path)
    _certs(certs)
    port = _port()
    args = [
        "-H",
        f"tcp://127.0.0.1:{port}",
        "--tlsverify",
        "--tlscacert",
        f"{certs}/ca.pem",
        "--tlscert",
        f"{certs}/server.pem",
        "--tlskey",
        f"{certs}/server-key.pem",
    ]
    with running_daemon(extra_args=args) as d:
        client_dir = tmp_path / "client"
        client_dir.mkdir()
        for src, dst in (
            ("ca.pem", "ca.pem"),
            ("client.pem", "cert.pem"),
            ("client-key.pem", "key.pem"),
        ):
            (client_dir / dst).write_bytes((tmp_path / src).read_bytes())
        env = dict(
            d.env,
            DOCKER_HOST=f"tcp://127.0.0.1:{port}",
            DOCKER_TLS_VERIFY="1",
            DOCKER_CERT_PATH=str(client_dir),
        )
        r = subprocess.run(
            [DOCKER, "version", "--format", "{{.Server.Platform.Name}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (r.returncode, r.stdout) == (0, "dockyard\n"), r.stderr
        # Without a client certificate the TLS handshake is refused.
        (client_dir / "cert.pem").unlink()
        (client_dir / "key.pem").unlink()
        env.pop("DOCKER_TLS_VERIFY")
        env["DOCKER_TLS"] = "1"
        r = subprocess.run(
            [DOCKER, "version", "--format", "{{.Server.Platform.Name}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode != 0
        # The UNIX socket still works alongside.
        assert d.docker("version", "--format", "{{.Server.Platform.Name}}").stdout == ("dockyard\n")
