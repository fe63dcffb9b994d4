"""The ``tokentrace`` command: the demo (the main job) and the fake provider server."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tokentrace._demo.runner import run_demo


def test_demo_prints_the_token_table_from_the_telemetry() -> None:
    out = io.StringIO()
    assert run_demo(["openai"], out) == 0
    text = out.getvalue()
    rows = {tuple(line.split()[:2] + line.split()[2:3]): line.split() for line in text.splitlines()}
    chat = next(cells for cells in rows.values() if cells[:3] == ["openai", "chat", "gpt-4o-mini"])
    # calls, errors, input, output, cached, reasoning: three chat calls of 1217 input (1152 cached), 9 output.
    assert chat[3:9] == ["3", "0", "3651", "27", "3456", "0"]
    responses = next(cells for cells in rows.values() if cells[:3] == ["openai", "chat", "o4-mini"])
    assert responses[3:9] == ["1", "0", "14", "151", "0", "128"]
    assert re.search(r"^5 spans; table read back from the recorded metrics\.$", text, re.MULTILINE)


@pytest.mark.slow
def test_fake_provider_command_serves_until_interrupted(tmp_path: Path) -> None:
    port = 18000 + (int(time.time() * 1000) % 2000)
    process = subprocess.Popen(
        [sys.executable, "-m", "tokentrace", "fake-provider", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()
        body = b'{"model": "gpt-4o-mini", "messages": []}'
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b'"prompt_tokens": 1217' in response.read()
    finally:
        process.terminate()
        process.wait(timeout=10)
