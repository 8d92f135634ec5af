"""The code sandbox: each run is a fresh process tree in fresh Linux namespaces, under hard limits.

A fork server (inside/zygote.py) runs inside a bubblewrap sandbox started once per `Sandbox`: an interpreter
with the harness already loaded, in its own user, PID, network, IPC and UTS namespaces, on a read-only root. For
each run it forks a process that creates *new* user, mount, PID, network, IPC and UTS namespaces, and a PID 1
in them that sheds every capability, loads the seccomp filter and runs the harness (inside/), which runs
the candidate in child processes. Nothing is reused between runs except that warm, read-only starting point:
every run gets new namespaces, a new tmpfs, new processes; the fork server never holds a run's code or tests
(they go straight from the host to the run through a pipe), so no run can find another's in memory.

Protected against, with isolation="strict" (the default):
- network: a new, empty network namespace (no interface but a down loopback), and seccomp refuses every
  socket family but AF_UNIX (AF_VSOCK, which namespaces do not cover, included).
- the filesystem: the root is an empty tmpfs, remounted read-only, holding read-only binds of /usr (and
  the /bin, /lib* links) and the interpreter's prefix. No /sys, no /etc, no home directories, no project
  files; /proc is an empty read-only tmpfs; /dev holds null, zero, full, random and urandom only (no ptys,
  no /dev/shm). The only writable place is /tmp, a private tmpfs of `disk_mb` MiB that vanishes with the
  run's mount namespace.
- the environment: cleared (`--clearenv`); the sandbox sees PATH, HOME, LANG and TMPDIR set to fixed values,
  and Python runs with -I -S (no PYTHON* variables, no site-packages, no user site).
- identity: a new user namespace per run whose only uid (1000) maps, through the fork server's, to the
  service's uid, or to `nobody` (65534) when the service runs as root (bwrap is started through `setpriv`);
  no capabilities, an empty bounding set, no_new_privs; new IPC and UTS namespaces (hostname "sandbox") and
  a new session (no terminal to inject keystrokes into).
- resources, per run: RLIMIT_NPROC (processes and threads; the count is per user namespace, so per run),
  RLIMIT_AS per candidate process (`memory_mb`), RLIMIT_CPU, RLIMIT_FSIZE and the tmpfs size, RLIMIT_NOFILE,
  no core dumps; wall-clock deadlines per test in the harness and per run in the host; captured output
  capped (`output_kb`). Fork, memory, disk and output bombs hit their own run's limits only.
- survivors: at each test's deadline the harness kills every other process in the namespace (kill(-1) as
  PID 1); at the run's deadline the host SIGKILLs the run's monitor through a pidfd, PID 1 dies with it
  (PR_SET_PDEATHSIG), and the kernel kills everything else in the PID namespace. The fork server reaps the
  monitor: no survivors, no zombies. If the service dies, bwrap (`--die-with-parent`) takes everything.
- forged results: see inside/__init__.py. The tests run in the harness, which the candidate can neither
  signal (PID 1), nor trace or read (seccomp: ptrace, process_vm_*, pidfd_getfd denied; no /proc); the
  candidate only ever returns plain data or opaque handles; the report goes to an fd only the harness holds,
  carries a per-run nonce the candidate never sees, and counts only if the harness finished its loop. The
  tests compute with their own builtins, modules and prompt-given helpers, never the candidate's shadows
  of them (inside/namespace.py).
- one batch starving the others: runs wait in a bounded queue that shares the slots between batches
  (runqueue.py).
- kernel attack surface: seccomp (seccomp.py) denies new namespaces, mounts, bpf, perf, io_uring,
  userfaultfd, keyrings, module loading and similar calls that no test needs.

Not protected against:
- kernel vulnerabilities reachable through the system calls still allowed (a sandbox escape is a kernel bug;
  the uid mapping to `nobody` or the service's uid bounds what an escape gets);
- side channels: timing, CPU caches, and CPU contention between runs on the same host;
- total memory of one run: RLIMIT_AS is per process, so a run can hold up to about
  `max_processes x memory_mb` plus its tmpfs. Run the service under a memory cgroup (a container limit or
  systemd MemoryMax=) to bound the whole; this module does not write to cgroup hierarchies it does not own;
- reading what the read-only binds expose: the system's /usr and the interpreter's installation;
- a reference (the tests) that is itself hostile: test code runs inside the sandbox, with the harness's
  rights, so it can misreport its own results (it cannot leave the sandbox).

Weaker isolation is an explicit opt-in (`isolation` in the source's Config):
- "namespaces": as "strict" without the seccomp filter, for architectures other than x86_64. The candidate
  can then ptrace the harness (same uid), so a determined policy can forge results.
- "rlimits": no namespaces at all (for hosts without user namespaces), one plain harness process per run.
  Its process limit is per host user, so each run may fork `max_processes` beyond what that user already
  runs: a bound on a fork bomb, not a fixed total.
  Rlimits, a scrubbed environment, a private temporary work dir (removed afterwards) and a new session only:
  the candidate can read the host's files, use the network, kill the harness (the run is then unscored
  `sandbox_error`), and leave processes behind with setsid. Development only.

Failures of the sandbox itself (bwrap cannot start, the harness crashes, the run misses the host deadline,
the report is missing or malformed, the queue is full) raise `SandboxFailure`; the source turns them into unscored
`sandbox_error`, never 0 and never 1. What the candidate does (crash, hang, bombs) is never a sandbox failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import marshal
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError
from . import inside
from .forkserver import ForkServer, ForkServerError
from .runqueue import FairQueue, QueueFull
from .seccomp import build_filter

if TYPE_CHECKING:
    from ..runtime import Runtime
from .tests_spec import TestSpec

__all__ = ["Isolation", "Limits", "Sandbox", "SandboxFailure", "SandboxUnavailable", "preflight"]

Isolation = Literal["strict", "namespaces", "rlimits"]

_NOBODY = 65534
_SANDBOX_UID = 1000
_REPORT_CAP = 64 << 20  # bytes of harness report read at most
_STDERR_CAP = 64 << 10
_STARTUP_GRACE_S = 5.0  # added to the run's budget for the host deadline: interpreter start-up under load
_SPAWN_TIMEOUT_S = 10.0  # for the fork server to start a run, and for a run's monitor to exit once killed
_PROBE = ("import sys,_frozen_importlib_external as e;"
          "print(sys.base_prefix);print(sys.base_exec_prefix);print(e.MAGIC_NUMBER.hex());print(sys.version.split()[0])")


class SandboxUnavailable(ConfigError):
    """The host cannot provide the isolation asked for; the message says what is missing and the fix."""


class SandboxFailure(Exception):
    """One run failed for a reason that is not the candidate's: it becomes an unscored `sandbox_error`."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 5.0
    total_timeout_s: float = 30.0
    memory_mb: int = 512
    max_processes: int = 16
    disk_mb: int = 128
    output_kb: int = 1024
    open_files: int = 64


@dataclass(frozen=True)
class _Interpreter:
    path: str
    prefixes: tuple[str, ...]
    magic: str
    version: str


def preflight(isolation: Isolation) -> str:
    """Cheap checks (no process started) that `isolation` can work here; returns the bwrap path (or "").

    Raises `SandboxUnavailable` naming what is missing and how to fix it or opt out.
    """
    if sys.platform != "linux":
        raise SandboxUnavailable(f"the code sandbox needs Linux; this is {sys.platform}")
    need_setpriv = os.geteuid() == 0
    if need_setpriv and shutil.which("setpriv") is None:
        raise SandboxUnavailable("running as root, the sandbox drops to uid 65534 with setpriv (util-linux), "
                                 "which is not installed: apt-get install util-linux")
    if isolation == "rlimits":
        return ""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (no `bwrap` on PATH): apt-get install bubblewrap; "
                                 "or set isolation='rlimits' to accept much weaker isolation")
    try:
        max_userns = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        max_userns = 1
    if max_userns == 0:
        raise SandboxUnavailable("user namespaces are disabled (user.max_user_namespaces = 0): enable them "
                                 "(sysctl -w user.max_user_namespaces=10000), or set isolation='rlimits' to "
                                 "accept much weaker isolation")
    if isolation == "strict":
        try:
            build_filter()
        except ValueError as exc:
            raise SandboxUnavailable(f"{exc}; set isolation='namespaces' to run without the seccomp filter "
                                     "(the candidate could then trace the harness and forge results)") from None
    return bwrap


class Sandbox:
    """Runs candidate code against tests, `concurrency` runs at a time. Build one per process (the source
    keeps it in the `Runtime`), `await start()` once (it checks the host, picks the interpreter and starts
    the fork server), and `await aclose()` at the end."""

    def __init__(self, *, isolation: Isolation = "strict", python: str | None = None, concurrency: int = 0,
                 max_queued: int = 65_536) -> None:
        self.isolation = isolation
        self.python = python
        self.concurrency = concurrency or os.cpu_count() or 1
        self._bwrap = preflight(isolation)
        self._seccomp = build_filter() if isolation == "strict" else b""
        self._queue = FairQueue(self.concurrency, max_queued)  # see runqueue.py
        self._interp: _Interpreter | None = None
        self._forkserver: ForkServer | None = None
        self._reaping: set[asyncio.Task[None]] = set()
        self._start_lock = asyncio.Lock()
        # Sent, not imported: this code runs inside the sandbox (see inside/__init__.py).
        self._sources = {"harness": inside.harness_source(), "zygote": inside.zygote_source()}
        self._compiled = {name: compile(text, f"<referee-{name}>", "exec", dont_inherit=True)
                          for name, text in self._sources.items()}
        self._host_magic = _host_magic()

    @property
    def interpreter(self) -> str | None:
        return self._interp.path if self._interp else None

    # start-up ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Pick the interpreter and prove the whole path works with one real run; `SandboxUnavailable` if not."""
        async with self._start_lock:
            if self._interp is not None:
                return
            errors = []
            for path in self._interpreter_candidates():
                try:
                    interp = await asyncio.to_thread(_describe, path)
                except (OSError, subprocess.SubprocessError, ValueError) as exc:
                    errors.append(f"{path}: {exc}")
                    continue
                forkserver = None
                if self.isolation != "rlimits":
                    forkserver = ForkServer(self._argv(interp), self._code(interp, "zygote"),
                                            {"role": "zygote", "harness": self._code(interp, "harness"),
                                             "seccomp": self._seccomp})
                try:
                    await self._self_test(interp, forkserver)
                except SandboxFailure as exc:
                    errors.append(f"{path}: {exc}")
                    if forkserver is not None:
                        await forkserver.aclose()
                    continue
                self._interp, self._forkserver = interp, forkserver
                return
            raise SandboxUnavailable(
                f"the sandbox ({self.isolation}) could not run any interpreter: " + "; ".join(errors)
                + (". Is bubblewrap allowed to create user namespaces here? Set isolation='rlimits' only to "
                   "accept much weaker isolation" if self.isolation != "rlimits" else ""))

    async def aclose(self) -> None:
        await asyncio.gather(*self._reaping)
        if self._forkserver is not None:
            await self._forkserver.aclose()
            self._forkserver = None
        self._interp = None

    def _interpreter_candidates(self) -> list[str]:
        if self.python:
            return [self.python]
        found = []
        for path in (getattr(sys, "_base_executable", None), sys.executable, "/usr/bin/python3",
                     "/usr/local/bin/python3"):
            if path and os.path.exists(path):
                real = os.path.realpath(path)
                if real not in found:
                    found.append(real)
        return found

    def _code(self, interp: _Interpreter, name: str) -> Any:
        """Compiled code when the sandbox's interpreter reads this interpreter's bytecode, else the source."""
        return self._compiled[name] if interp.magic == self._host_magic else self._sources[name]

    async def _self_test(self, interp: _Interpreter, forkserver: ForkServer | None) -> None:
        from .tests_spec import parse_reference
        spec = parse_reference("assert answer() == 42")
        try:
            report = await self._run(interp, forkserver, "def answer():\n    return 42\n", spec, Limits(), None,
                                     object())
        except ForkServerError as exc:
            raise SandboxFailure(str(exc)) from None
        if report["results"][0].get("passed") is not True:
            raise SandboxFailure(f"self-test did not pass: {report['results'][0]}")

    # running -------------------------------------------------------------------------------------------
    async def run(self, code: str, spec: TestSpec, limits: Limits, entry_point: str | None = None, *,
                  group: Hashable | None = None) -> dict[str, Any]:
        """Run `code` against `spec`; the harness's validated report. `SandboxFailure` when the sandbox failed.

        `entry_point` defaults to `spec.entry_point`. Runs of one `group` (one batch) share the queue fairly
        with other groups' runs (runqueue.py); with no group, the run is a group of its own.
        """
        if self._interp is None:
            await self.start()
        assert self._interp is not None
        return await self._run(self._interp, self._forkserver, code, spec, limits, entry_point or spec.entry_point,
                               object() if group is None else group)

    @property
    def queued(self) -> int:
        """Runs waiting for a slot now."""
        return self._queue.waiting

    async def _run(self, interp: _Interpreter, forkserver: ForkServer | None, code: str, spec: TestSpec,
                   limits: Limits, entry_point: str | None, group: Hashable) -> dict[str, Any]:
        nonce = secrets.token_hex(16)
        limits_sent = asdict(limits)
        if self.isolation == "rlimits" and os.geteuid() == 0:
            # No user namespace here, so RLIMIT_NPROC counts every task of the host's `nobody` (other runs,
            # the strict mode's fork servers): allow what it has now plus this run's own budget.
            limits_sent["max_processes"] += _tasks_of(_NOBODY)
        params = {"role": "harness", "mode": spec.mode, "code": code, "entry_point": entry_point,
                  "limits": limits_sent, "pid_namespace": self.isolation != "rlimits"}
        tests: dict[str, Any] = {"nonce": nonce}
        if spec.mode == "rpc":
            tests["items"] = spec.items
            tests["used"] = sorted(spec.used)
            tests["called"] = sorted(spec.called)
            if spec.given and entry_point:
                tests["given"] = spec.given
        else:
            tests["inputs"] = spec.inputs
        # With the fork server the harness is already loaded in it: frame 1 carries only the parameters.
        frame1 = marshal.dumps((None if forkserver else self._code(interp, "harness"), params))
        frame2 = marshal.dumps(tests)
        payload = b"%016x" % len(frame1) + frame1 + b"%016x" % len(frame2) + frame2
        deadline = limits.total_timeout_s + _STARTUP_GRACE_S
        try:
            await self._queue.acquire(group)
        except QueueFull as exc:
            raise SandboxFailure(str(exc)) from None
        release = True
        try:
            started = time.monotonic()
            if forkserver is not None:
                report, pidfd = await self._run_forked(forkserver, payload, limits, deadline)
                # The report is complete; the run's processes are on their way out. Reap them in the
                # background, holding the slot until they are gone, and answer now.
                release = False
                task = asyncio.create_task(self._reap(pidfd, group))
                self._reaping.add(task)
                task.add_done_callback(self._reaping.discard)
                err, status = b"", 0
            else:
                report, err, status = await self._run_direct(interp, payload, deadline)
            seconds = time.monotonic() - started
        finally:
            if release:
                self._queue.release(group)
        return _validate(report, err, status, nonce, len(spec), seconds)

    async def _reap(self, pidfd: int, group: Hashable) -> None:
        try:
            if not await _wait_readable(pidfd, _SPAWN_TIMEOUT_S):
                await _kill(pidfd)
        finally:
            os.close(pidfd)
            self._queue.release(group)

    def _argv(self, interp: _Interpreter) -> list[str]:
        """The fork server's command line: bwrap around the interpreter (see the module docstring)."""
        prefix = ["setpriv", f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups", "--"] \
            if os.geteuid() == 0 else []
        command = [interp.path, "-I", "-S", "-c", inside.BOOTSTRAP]
        if self.isolation == "rlimits":
            return prefix + command
        argv = [self._bwrap,
                "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--uid", str(_SANDBOX_UID), "--gid", str(_SANDBOX_UID),
                "--hostname", "sandbox", "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv",
                "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp",
                "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
                "--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        for prefix_dir in interp.prefixes:
            argv += ["--ro-bind", prefix_dir, prefix_dir]
        argv += ["--proc", "/proc"]
        # Five device nodes, not bwrap's --dev: no /dev/pts or /dev/ptmx (ptys are a host-wide count), no
        # /dev/shm (writable memory outside the tmpfs limit).
        for node in ("null", "zero", "full", "random", "urandom"):
            argv += ["--dev-bind", f"/dev/{node}", f"/dev/{node}"]
        argv += ["--size", str(1 << 20), "--tmpfs", "/tmp", "--chdir", "/tmp", "--remount-ro", "/"]
        return prefix + argv + command

    async def _run_forked(self, forkserver: ForkServer, payload: bytes, limits: Limits,
                          deadline: float) -> tuple[bytes, int]:
        """The report, and the pidfd of the run's monitor (still running or just exited; the caller reaps)."""
        stdin_r, stdin_w = os.pipe()
        report_r, report_w = os.pipe()
        try:
            try:  # starts the fork server first if it is not running (bounded by its own ready timeout)
                pidfd_future = await forkserver.request_run(limits.disk_mb << 20, stdin_r, report_w)
            except ForkServerError as exc:
                os.close(stdin_w)
                os.close(report_r)
                raise SandboxFailure(str(exc)) from None
        finally:
            os.close(stdin_r)
            os.close(report_w)
        # Write the payload while the fork server is still answering: the pipe holds it meanwhile.
        exchange = asyncio.create_task(_exchange(stdin_w, report_r, payload))  # owns stdin_w and report_r
        try:
            pidfd = await asyncio.wait_for(asyncio.shield(pidfd_future), _SPAWN_TIMEOUT_S)
        except (ForkServerError, TimeoutError) as exc:
            exchange.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await exchange
            pidfd_future.add_done_callback(_close_pidfd)  # it may still come
            raise SandboxFailure(str(exc) or "the fork server did not answer in time") from None
        try:
            report = await asyncio.wait_for(exchange, deadline)
        except BaseException as exc:
            await _kill(pidfd)
            os.close(pidfd)
            if isinstance(exc, TimeoutError):
                raise SandboxFailure(f"the harness did not report within {deadline:g}s (its own deadlines "
                                     "should have ended the run first); the sandbox was killed") from None
            raise
        return report, pidfd

    async def _run_direct(self, interp: _Interpreter, payload: bytes, deadline: float) -> tuple[bytes, bytes, int]:
        """isolation='rlimits': the harness as a plain process in its own session and work dir."""
        workdir = tempfile.mkdtemp(prefix="referee-code-")
        try:
            if os.geteuid() == 0:
                os.chown(workdir, _NOBODY, _NOBODY)
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self._argv(interp), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE, cwd=workdir, env=env, start_new_session=True)
            except OSError as exc:
                raise SandboxFailure(f"could not start the harness: {exc}") from exc
            try:
                return await asyncio.wait_for(_communicate(proc, payload), deadline)
            except TimeoutError:
                raise SandboxFailure(f"the harness did not report within {deadline:g}s; it was killed") from None
            finally:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _kill(pidfd: int) -> None:
    """SIGKILL the run's monitor (its PID 1 and namespace follow) and wait until it has exited."""
    with contextlib.suppress(ProcessLookupError, OSError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # ESRCH once it has exited
    await _wait_readable(pidfd, _SPAWN_TIMEOUT_S)


def _close_pidfd(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.close(future.result())


async def _wait_readable(fd: int, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    def on_ready() -> None:
        if not ready.done():
            ready.set_result(True)

    loop.add_reader(fd, on_ready)
    try:
        return await asyncio.wait_for(ready, timeout)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


async def _exchange(stdin_w: int, report_r: int, payload: bytes) -> bytes:
    """Write `payload` to `stdin_w` and read `report_r` to its end (at most _REPORT_CAP bytes kept), without
    blocking the event loop; closes both fds."""
    loop = asyncio.get_running_loop()
    os.set_blocking(stdin_w, False)
    os.set_blocking(report_r, False)
    finished = loop.create_future()
    pending = memoryview(payload)
    chunks: list[bytes] = []
    size = 0
    writing = True

    def stop_writing() -> None:
        nonlocal writing
        if writing:
            writing = False
            loop.remove_writer(stdin_w)
            os.close(stdin_w)

    def on_writable() -> None:
        nonlocal pending
        try:
            pending = pending[os.write(stdin_w, pending[: 1 << 16]):]
        except BlockingIOError:
            return
        except OSError:
            pending = pending[:0]  # the harness stopped reading: its report (or its absence) says why
        if not pending:
            stop_writing()

    def on_readable() -> None:
        nonlocal size
        try:
            chunk = os.read(report_r, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            if not finished.done():
                finished.set_result(None)
            return
        if size < _REPORT_CAP:
            chunks.append(chunk[: _REPORT_CAP - size])
        size += len(chunk)

    loop.add_writer(stdin_w, on_writable)
    loop.add_reader(report_r, on_readable)
    try:
        await finished
    finally:
        stop_writing()
        loop.remove_reader(report_r)
        os.close(report_r)
    return b"".join(chunks)


async def _communicate(proc: asyncio.subprocess.Process, payload: bytes) -> tuple[bytes, bytes, int]:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def feed() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(payload)
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the harness stopped reading: its report (or its absence) says why

    async def drain(stream: asyncio.StreamReader, cap: int) -> bytes:
        chunks, size = [], 0
        while chunk := await stream.read(65536):
            if size < cap:
                chunks.append(chunk[: cap - size])
            size += len(chunk)
        return b"".join(chunks)

    _, out, err = await asyncio.gather(feed(), drain(proc.stdout, _REPORT_CAP), drain(proc.stderr, _STDERR_CAP))
    return out, err, await proc.wait()


def _validate(stdout: bytes, stderr: bytes, returncode: int, nonce: str, n_tests: int,
              seconds: float) -> dict[str, Any]:
    err = stderr.decode("utf-8", "replace").strip()
    if not stdout:
        detail = f": {err[-500:]}" if err else ""
        raise SandboxFailure(f"the sandbox exited with status {returncode} and no report{detail}")
    try:
        report = json.loads(stdout)
    except (ValueError, RecursionError) as exc:
        raise SandboxFailure(f"the harness's report is not valid JSON ({exc})") from None
    if not isinstance(report, dict):
        raise SandboxFailure("the harness's report is not a JSON object")
    if report.get("complete") is not True:
        raise SandboxFailure(str(report.get("error") or "the harness did not finish its loop"))
    if report.get("nonce") != nonce:
        raise SandboxFailure("the harness's report carries the wrong nonce")
    results = report.get("results")
    if not isinstance(results, list) or len(results) != n_tests or not all(isinstance(r, dict) for r in results):
        raise SandboxFailure(f"the harness reported {len(results) if isinstance(results, list) else 'no'} "
                             f"results for {n_tests} tests")
    report["seconds"] = seconds
    return report


def _host_magic() -> str:
    import importlib.util
    return importlib.util.MAGIC_NUMBER.hex()


def _describe(path: str) -> _Interpreter:
    """Prefixes, bytecode magic and version of the interpreter at `path` (run once, outside the sandbox)."""
    out = subprocess.run([path, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=30,
                         check=True, env={}).stdout.split("\n")
    base_prefix, exec_prefix, magic, version = out[:4]
    prefixes = []
    for p in (base_prefix, exec_prefix):
        real = os.path.realpath(p)
        if not (real == "/usr" or real.startswith("/usr/")) and real not in prefixes and real != "/":
            prefixes.append(real)
    interp_dir = os.path.dirname(os.path.realpath(path))
    if not interp_dir.startswith("/usr/") and not any(interp_dir.startswith(p + "/") for p in prefixes):
        raise ValueError(f"the interpreter lives outside its prefix ({interp_dir}); give its real path")
    return _Interpreter(path=os.path.realpath(path), prefixes=tuple(prefixes), magic=magic, version=version)


def shared_sandbox(runtime: Runtime, isolation: Isolation) -> Sandbox:
    """The runtime's one sandbox (and fork server) for `isolation`: every user of the sandbox in a process
    (the `code` source, the OpenAI `python` grader) must share it, so they go through here."""
    return runtime.resource(f"code.sandbox:{isolation}",
                            lambda: Sandbox(isolation=isolation, concurrency=runtime.pool.max_workers))


def _tasks_of(uid: int) -> int:
    """Processes and threads owned by `uid` right now (what the kernel counts against its RLIMIT_NPROC)."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
    return count
