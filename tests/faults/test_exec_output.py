"""Concurrent execs each get exactly their own output and exit code (issue 11: under load some
returned empty output; the monitor closed an exited exec's pipes after a fixed drain time
measured while it was busy elsewhere, dropping what they held)."""

from __future__ import annotations

import threading
import time

import docker

from daemon_fixture import running_daemon

THREADS = 50  # the clients of the load test in issue 11
PER_THREAD = 8  # at most; the run also stops after DURATION seconds
DURATION = 30.0


def test_concurrent_execs_return_their_exact_output(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        r = d.docker("run", "-d", "--name", "target", "busybox", "sleep", "3600")
        assert r.returncode == 0, r.stderr
        failures: list[str] = []
        done: list[int] = []
        lock = threading.Lock()
        deadline = time.monotonic() + DURATION

        def worker(t: int) -> None:
            client = docker.DockerClient(base_url=d.host, timeout=120)
            try:
                _work(t, client.containers.get("target"))
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    failures.append(f"thread {t}: {e!r}")
            finally:
                client.close()

        def _work(t: int, container) -> None:  # type: ignore[no-untyped-def]
            for n in range(PER_THREAD):
                if time.monotonic() > deadline:
                    return
                tag = f"t{t}-n{n}"
                code = (t + n) % 4
                cmd = ["sh", "-c", f"echo out-{tag}; echo err-{tag} >&2; exit {code}"]
                try:
                    got_code, (out, err) = container.exec_run(cmd, demux=True)
                except Exception as e:  # noqa: BLE001 - reported below
                    with lock:
                        failures.append(f"{tag}: {e!r}")
                    continue
                with lock:
                    done.append(1)
                    if (got_code, out, err) != (
                        code,
                        f"out-{tag}\n".encode(),
                        f"err-{tag}\n".encode(),
                    ):
                        failures.append(f"{tag}: code={got_code} out={out!r} err={err!r}")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(DURATION + 120)
        assert not any(th.is_alive() for th in threads), "an exec did not finish"
        assert len(done) >= THREADS, f"only {len(done)} execs ran"
        assert not failures, f"{len(failures)} of {len(done)} execs wrong: {failures[:5]}"
        # a tty exec's output is complete too
        client = docker.DockerClient(base_url=d.host, timeout=120)
        container = client.containers.get("target")
        for n in range(5):
            got_code, out = container.exec_run(["echo", f"tty-{n}"], tty=True)
            assert (got_code, out) == (0, f"tty-{n}\r\n".encode())
        client.close()
