"""The host's side of the fork server (inside/zygote.py): start it in bwrap, ask it for runs, kill runs by pidfd.

One `ForkServer` per `Sandbox`. `request_run(disk_bytes, stdin_fd, report_fd)` hands the two pipe ends to
the fork server over a SOCK_SEQPACKET socket (SCM_RIGHTS) and returns a future of a pidfd for the run's
monitor process; meanwhile the caller writes the payload and reads the report, and kills the monitor
through the pidfd at its deadline (the run's PID 1 has PR_SET_PDEATHSIG, so its whole PID namespace goes
with it). If the fork server dies, every
run in flight fails (its report pipe closes without a report) and the next `spawn_run` starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
import socket
from collections.abc import Sequence
from typing import Any

__all__ = ["ForkServer", "ForkServerError"]

_READY_TIMEOUT_S = 30.0


class ForkServerError(Exception):
    """The fork server could not be started or did not answer."""


class ForkServer:
    def __init__(self, argv: Sequence[str], code: Any, params: dict[str, Any]) -> None:
        """`argv`: bwrap and the interpreter running inside.BOOTSTRAP; `code`: inside/zygote.py, compiled or as
        source; `params`: what zygote.py reads from PARAMS, less the control fd, which is added here."""
        self._argv = list(argv)
        self._code = code
        self._params = params
        self._proc: asyncio.subprocess.Process | None = None
        self._sock: socket.socket | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._next_id = 0
        self._lock = asyncio.Lock()
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._sock is not None and self._proc is not None and self._proc.returncode is None

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        frame = marshal.dumps((self._code, {**self._params, "control_fd": theirs.fileno()}))
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, pass_fds=(theirs.fileno(),), env={})
        except OSError as exc:
            ours.close()
            raise ForkServerError(f"could not start the fork server: {exc}") from exc
        finally:
            theirs.close()
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(b"%016x" % len(frame) + frame)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await proc.stdin.drain()
        proc.stdin.close()
        ours.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            msg = await asyncio.wait_for(loop.sock_recv(ours, 4096), _READY_TIMEOUT_S)
        except (TimeoutError, OSError):
            msg = b""
        if not msg:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            err = await proc.stderr.read(4096)
            await proc.wait()
            ours.close()
            detail = err.decode("utf-8", "replace").strip()[-500:]
            raise ForkServerError(f"the fork server did not start (exit status {proc.returncode})"
                                  + (f": {detail}" if detail else ""))
        self._proc, self._sock = proc, ours
        loop.add_reader(ours.fileno(), self._on_readable)
        self._stderr_task = asyncio.create_task(_discard(proc.stderr))

    def _on_readable(self) -> None:
        assert self._sock is not None
        try:
            msg, fds, _, _ = socket.recv_fds(self._sock, 4096, 1)
        except BlockingIOError:
            return
        except OSError:
            msg, fds = b"", []
        if not msg:
            self._fail_all("the fork server exited")
            return
        reply = marshal.loads(msg)
        future = self._pending.pop(reply.get("id", -1), None)
        if future is None or future.done() or "error" in reply or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            if future is not None and not future.done():
                future.set_exception(ForkServerError(
                    f"the fork server could not start the run: {reply.get('error', 'no pidfd')}"))
            return
        future.set_result(fds[0])

    def _fail_all(self, why: str) -> None:
        if self._sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ForkServerError(why))
        self._pending.clear()

    async def request_run(self, disk_bytes: int, stdin_fd: int, report_fd: int) -> asyncio.Future[int]:
        """Ask for one run reading `stdin_fd` and reporting to `report_fd`. Once this returns, the request
        (with copies of both fds) is sent: close yours. The future gives the monitor's pidfd (yours to
        close), or raises `ForkServerError`."""
        async with self._lock:
            if not self.alive:
                await self.aclose()
                await self._start()
        assert self._sock is not None
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            socket.send_fds(self._sock, [marshal.dumps({"id": request_id, "disk": disk_bytes})],
                            [stdin_fd, report_fd])
        except OSError as exc:
            self._pending.pop(request_id, None)
            self._fail_all(f"the fork server's socket failed: {exc}")
            raise ForkServerError(f"could not reach the fork server: {exc}") from exc
        return future

    async def aclose(self) -> None:
        self._fail_all("the fork server was closed")
        if self._proc is not None:
            if self._proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()  # bwrap; the fork server and every run die with it
            await self._proc.wait()
            self._proc = None
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            self._stderr_task = None


async def _discard(stream: asyncio.StreamReader) -> None:
    """Keep the fork server's stderr pipe from filling up (nothing is expected on it once it runs)."""
    while await stream.read(65536):
        pass
