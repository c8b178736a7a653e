"""A real `calmdesk serve` in a subprocess on a free loopback port, for the tests that talk HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def calmdesk_server(
    folder: Path, model: Path, key: str, database: str, ready: str = "/healthz"
) -> Iterator[tuple[str, Path]]:
    """(base URL, server log) of a server with one API key and a SQLite store in `folder`;
    stopped with SIGTERM (as a service manager would) when the block ends."""
    port = free_port()
    env = {**os.environ, "CALMDESK_API_KEYS": key, "OMP_NUM_THREADS": "1"}
    env.pop("CALMDESK_DATABASE_URL", None)
    log_path = folder / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "calmdesk.cli", "serve", "--port", str(port),
         "--db", f"sqlite:///{folder / database}", "--model", str(model)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # generous: CI machines can be slow to import torch
    while True:
        try:
            if httpx.get(f"{base}{ready}", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"server did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield base, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
