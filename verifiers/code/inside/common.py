"""Inside the sandbox, every process: frames of JSON over pipes, rlimits, cleanup (see __init__.py)."""

import _json
import _signal
import builtins
import posix
import resource
import select
import time

BOOTSTRAP = (
    "import posix,marshal\n"
    "def R(n):\n"
    " b=b''\n"
    " while len(b)<n:\n"
    "  c=posix.read(0,n-len(b))\n"
    "  if not c:posix._exit(3)\n"
    "  b+=c\n"
    " return b\n"
    "C,P=marshal.loads(R(int(R(16),16)))\n"
    "exec(C,{'__name__':'__referee_harness__','CODE':C,'PARAMS':P,'READ':R})\n"
)

_G = globals()  # BOOTSTRAP puts CODE (this module's code), PARAMS and READ (stdin reader) here
MAX_MESSAGE = 16 << 20  # bytes in one frame between harness and candidate
MAX_ERROR = 300  # characters of an error message kept in the report
REPORT_OUTPUT_BUDGET = 32 << 20  # bytes of stdout (JSON-escaped) in one stdio report; the host reads 64 MiB
MODULE_NAME = "solution"  # __name__ of the candidate's module in rpc mode: `if __name__ == "__main__"` stays off


class TestTimeout(BaseException):
    """The current test passed its deadline."""


class CandidateError(Exception):
    """The candidate raised an exception with no builtin counterpart, or returned something unusable."""


class CandidateDied(CandidateError):
    """The candidate's process exited, was killed, or broke the protocol."""


class CandidateObjectError(CandidateError):
    """A test compared or tested the truth of a non-plain object that the candidate controls."""


class Unsupported(Exception):
    """The test code passed the candidate something that cannot cross the process boundary."""


# ---------------------------------------------------------------------------------------------- JSON (C only)

class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


_scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]


def _unencodable(obj):
    raise TypeError(f"cannot encode {type(obj).__name__}")


_encoder = _json.make_encoder({}, _unencodable, _json.encode_basestring_ascii, None, ":", ",", False, False, True)


def dumps(obj) -> bytes:
    return "".join(_encoder(obj, 0)).encode("ascii")


def loads(data: bytes):
    text = data.decode("ascii")
    try:
        obj, end = _scan(text, 0)
    except StopIteration as exc:
        raise ValueError(f"malformed JSON at {exc.value}") from None
    if end != len(text):
        raise ValueError("trailing data after JSON")
    return obj


# ---------------------------------------------------------------------------------------------- framing

def _write_all(fd: int, data: bytes, deadline: float | None) -> None:
    view = memoryview(data)
    poller = None
    while view:
        try:
            view = view[posix.write(fd, view):]
            continue
        except BlockingIOError:
            pass
        if poller is None:
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
        wait = -1.0
        if deadline is not None:
            wait = (deadline - time.monotonic()) * 1000
            if wait <= 0:
                raise TestTimeout()
        poller.poll(wait)


def send_frame(fd: int, obj, deadline: float | None = None) -> None:
    body = dumps(obj)
    _write_all(fd, len(body).to_bytes(4, "big") + body, deadline)


class FrameReader:
    """Reads length-prefixed JSON frames from a non-blocking fd, under a deadline, watching a pidfd."""

    def __init__(self, fd: int, pidfd: int = -1) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.poller = select.poll()
        self.poller.register(fd, select.POLLIN)
        if pidfd >= 0:
            self.poller.register(pidfd, select.POLLIN)
        self.pidfd = pidfd
        posix.set_blocking(fd, False)

    def read(self, deadline: float | None):
        need = 4
        while True:
            if len(self.buf) >= 4:
                size = int.from_bytes(self.buf[:4], "big")
                if size > MAX_MESSAGE:
                    raise CandidateDied(f"the candidate sent a {size}-byte message (limit {MAX_MESSAGE})")
                need = 4 + size
                if len(self.buf) >= need:
                    body = bytes(self.buf[4:need])
                    del self.buf[:need]
                    try:
                        return loads(body)
                    except (ValueError, RecursionError, UnicodeDecodeError, MemoryError) as exc:
                        raise CandidateDied(f"the candidate sent a malformed message: {exc}") from None
            wait = -1 if deadline is None else (deadline - time.monotonic()) * 1000
            if deadline is not None and wait <= 0:
                raise TestTimeout()
            events = self.poller.poll(wait)
            got_data = False
            for fd, _ in events:
                if fd == self.fd:
                    try:
                        chunk = posix.read(self.fd, max(65536, need - len(self.buf)))
                    except BlockingIOError:
                        continue
                    if not chunk:
                        raise CandidateDied("the candidate's process exited")
                    self.buf += chunk
                    got_data = True
            if not got_data and any(fd == self.pidfd for fd, _ in events):
                raise CandidateDied("the candidate's process exited")


# ---------------------------------------------------------------------------------------------- limits

def _setrlimit(which: int, value: int) -> None:
    hard = resource.getrlimit(which)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def set_shared_limits(limits: dict) -> None:
    """Limits on the whole sandbox, set by the harness on itself before anything is forked, so inherited."""
    _setrlimit(resource.RLIMIT_NPROC, limits["max_processes"])  # counted per user namespace: this run only
    _setrlimit(resource.RLIMIT_FSIZE, limits["disk_mb"] << 20)
    _setrlimit(resource.RLIMIT_NOFILE, limits["open_files"])
    _setrlimit(resource.RLIMIT_CORE, 0)
    _setrlimit(resource.RLIMIT_MEMLOCK, 0)
    _setrlimit(resource.RLIMIT_MSGQUEUE, 0)
    _setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] + 256) << 20)
    _setrlimit(resource.RLIMIT_CPU, int(limits["total_timeout_s"]) + 2)


def set_candidate_limits(limits: dict) -> None:
    _setrlimit(resource.RLIMIT_AS, limits["memory_mb"] << 20)
    _setrlimit(resource.RLIMIT_CPU, int(limits["total_timeout_s"]) + 1)


def kill_all(params: dict, pid: int) -> int | None:
    """Kill and reap every process but this one; the wait status of `pid` if it was reaped here. As PID 1 of a
    PID namespace, kill(-1) reaches exactly the processes of this sandbox, grandchildren and orphans included.
    Without a PID namespace (the weaker opt-in), only the candidate's process group can be reached."""
    status = None
    if params["pid_namespace"] and posix.getpid() == 1:
        for _ in range(100):
            try:
                posix.kill(-1, 9)
            except ProcessLookupError:
                pass
            try:
                while True:
                    reaped, code = posix.waitpid(-1, 0)
                    if reaped == pid:
                        status = code
            except ChildProcessError:
                return status
    elif pid > 0:
        try:
            posix.killpg(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            status = posix.waitpid(pid, 0)[1]
        except ChildProcessError:
            pass
        try:
            while posix.waitpid(-1, posix.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
    return status


# ---------------------------------------------------------------------------------------------- limits hit

def limit_hit(name: str, message: str) -> str | None:
    """The resource limit that an exception (its builtin class name and message) reports, if any. Only a
    label for the user: whatever the candidate raises, the test has failed either way."""
    if name == "MemoryError":
        return "memory"  # RLIMIT_AS
    if "[Errno 27]" in message:
        return "file_size"  # EFBIG: RLIMIT_FSIZE
    if "[Errno 28]" in message:
        return "disk"  # ENOSPC: the run's tmpfs is full
    if "[Errno 24]" in message:
        return "open_files"  # EMFILE: RLIMIT_NOFILE
    if (name == "BlockingIOError" and "[Errno 11]" in message) or "can't start new thread" in message:
        return "processes"  # EAGAIN from fork/clone: RLIMIT_NPROC
    return None


def signal_limit(status: int | None) -> str | None:
    """The limit a process killed with wait status `status` hit, if its signal says so."""
    if status is not None and posix.WIFSIGNALED(status):
        return {24: "cpu_time", 25: "file_size"}.get(posix.WTERMSIG(status))  # SIGXCPU, SIGXFSZ
    return None


def limit_result(limit: str, limits: dict, error: str) -> dict:
    """A failed test that names the limit it hit, and the setting that sets it."""
    setting = {"memory": f"memory_mb={limits['memory_mb']} MiB per process",
               "file_size": f"disk_mb={limits['disk_mb']} MiB per file",
               "disk": f"disk_mb={limits['disk_mb']} MiB of /tmp",
               "open_files": f"{limits['open_files']} open files",
               "processes": f"max_processes={limits['max_processes']}, threads included",
               "cpu_time": f"{int(limits['total_timeout_s']) + 1}s of CPU per process"}[limit]
    label = limit.replace("_", " ")
    return {"passed": False, "kind": "limit", "limit": limit,
            "error": f"hit the {label} limit ({setting}): {error}"[:MAX_ERROR * 2]}


def _become_child(stdin_fd: int, stdout_fd: int, stderr_fd: int) -> None:
    """In a freshly forked process: keep exactly fds 0, 1, 2 and close the rest (the report fd, the payload
    pipe, the other end of every pipe)."""
    _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
    posix.setpgid(0, 0)
    posix.dup2(stdin_fd, 0)
    posix.dup2(stdout_fd, 1)
    posix.dup2(stderr_fd, 2)
    posix.closerange(3, 65536)


def _safe_str(obj) -> str:
    try:
        text = str(obj)
    except BaseException:
        text = "<unprintable>"
    return text[:MAX_ERROR]


def _builtin_exception_name(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "BaseException"


