"""Prefect server on PostgreSQL (production set-up): start `prefect server start` against a fresh
database of the machine's PostgreSQL, run a small flow through PREFECT_API_URL, read the run
back from PostgreSQL, stop the server.

Production: the same two variables, with the server as a service:

    PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect:***@db-host:5432/prefect \\
        prefect server start --host 0.0.0.0 --port 4200
    PREFECT_API_URL=http://prefect-host:4200/api    # on every machine that runs flows
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

PG = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
FLOW = """
from prefect import flow, task

@task
def double(x: int) -> int:
    return 2 * x

@flow(name="safetynet-server-smoke")
def smoke(n: int) -> int:
    return sum(double(i) for i in range(n))

print("result", smoke(4))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture()
def database():
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"safetynet_prefect_{uuid.uuid4().hex[:8]}"
    admin.execute(f'create database "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


@pytest.mark.slow
def test_flow_runs_against_a_prefect_server_on_postgresql(database: str, tmp_path: Path) -> None:
    import psycopg

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_DATABASE_CONNECTION_URL":
            f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
    })
    prefect = Path(sys.executable).with_name("prefect")
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port), "--no-services"],
                              env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 45
        while not _healthy(api):
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "server not healthy within 45 s"
            time.sleep(0.5)
        client_env = {**env, "PREFECT_API_URL": api}
        client_env.pop("PREFECT_API_DATABASE_CONNECTION_URL")
        run = subprocess.run([sys.executable, "-c", FLOW], env=client_env, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "result 12" in run.stdout
        with psycopg.connect(PG.replace("dbname=test", f"dbname={database}")) as con:
            states = con.execute(
                "select f.name, r.state_type from flow_run r join flow f on f.id = r.flow_id"
            ).fetchall()
            parameters = con.execute("select parameters::text from flow_run").fetchone()[0]
        # (task runs reach the database through the server's services: --no-services here)
        assert [(n, str(s)) for n, s in states] == [("safetynet-server-smoke", "COMPLETED")]
        assert '"n": 4' in parameters
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        log.close()
