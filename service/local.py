"""Start the real service in a child process on a free loopback port, and stop it afterwards.

    with LocalService(sources=["math"]) as svc:
        RewardClient(svc.url).score("math", samples)

Used by the trainer when no service URL is given, by `referee demo`, and by the tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, NoReturn

import httpx

from .client import RewardServiceError

__all__ = ["LocalService", "ServiceStartError", "free_port"]


class ServiceStartError(RewardServiceError):
    """The service exited at start-up or did not become ready; `.output` holds what it printed."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalService:
    def __init__(self, *, sources: Sequence[str] | None = None, api_key: str | None = None,
                 extra_args: Sequence[str] = (), env: dict[str, str] | None = None, startup_timeout: float = 120.0,
                 log_path: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self._args = [sys.executable, "-m", "referee", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                      "--log-level", "warning", *extra_args]
        if sources is not None:
            self._args += ["--sources", ",".join(sources)]
        self._env = {**os.environ, **(env or {})}
        if api_key is not None:
            self._env["REFEREE_API_KEY"] = api_key
        self._startup_timeout = startup_timeout
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes]

    def start(self) -> LocalService:
        # Output goes to a file, never an unread pipe: a full pipe would block the server mid-run.
        self._log = open(self._log_path, "a+b") if self._log_path else tempfile.TemporaryFile()
        self.process = subprocess.Popen(self._args, env=self._env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._failed(f"the reward service exited with code {self.process.returncode} at start-up")
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self._failed(f"the reward service did not become ready within {self._startup_timeout:g}s")

    def _failed(self, what: str) -> NoReturn:
        out = self.output()
        self.stop()
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        last = f": {lines[-1]}" if lines else ""
        where = f" (its output: {self._log_path})" if self._log_path else ""
        raise ServiceStartError(f"{what}{last}{where}", out)

    def output(self) -> str:
        """What the service has printed so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully: lifespan closes the pool
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None) is not None and not self._log.closed:
            self._log.close()

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
