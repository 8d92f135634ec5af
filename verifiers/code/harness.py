"""The test runner inside the sandbox: trusted code that judges candidate code it never shares a process with.

This file is not imported by referee. The host compiles it and hands it, with `marshal`, to the fork server
(zygote.py), which loads it once and calls `_harness_main` in each run's PID 1; a candidate process
restarted after a crash is a new interpreter that gets it through `BOOTSTRAP` (run as `python -I -S -c`). It
uses the standard library's C modules only (no `json`, `re`, `signal`, `enum`: each costs milliseconds).

Processes, in the run's PID namespace (see sandbox.py for the namespaces themselves):
- the harness is PID 1. The kernel drops SIGKILL and SIGSTOP sent to a namespace's init from inside it, and
  every other signal for which init has no handler: the candidate cannot kill it. seccomp denies ptrace,
  process_vm_* and pidfd_getfd, and /proc is empty: the candidate cannot read or patch its memory.
- the candidate runs in a separate process. In "rpc" mode (asserts, `test_*` functions, `check(candidate)`)
  it is forked *before* the harness reads the tests (second frame), so its memory never held them; after a
  crash or a timeout a fresh interpreter is exec'd. The test code runs in the harness; each call into the
  candidate is a request over a pipe, and values come back as plain data (None, bool, int, float, complex,
  str, bytes, and list/tuple/dict/set/frozenset of those, exact types only) rebuilt by the harness. Anything
  else stays in the candidate as a handle: calls, attribute reads, iteration, indexing, len/str/int/float go
  through; `==`, `<`, `bool()`, `in` and hashing of a handle raise `CandidateObjectError`, because their
  answer would be the candidate's to choose. So an object whose `__eq__` always returns True, patched
  builtins, patched `assert`, `sys.exit`/`os._exit` and printed "passed" lines all stay in the candidate's
  process, where they decide nothing.
- in "stdio" mode each case is a fresh process forked from the harness, which holds only the inputs: the
  expected outputs never enter the sandbox (the host compares).

The report is one JSON object written once, at the end, to a copy of the harness's original stdout that no
other process holds (fds 1 and 2 are /dev/null from the start, so a print in the test code cannot corrupt
it). It echoes the host's per-run nonce from the second frame, which the candidate never sees.
"""

import _json
import _signal
import builtins
import marshal
import posix
import resource
import select
import sys
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


def kill_all(params: dict, pid: int) -> None:
    """Kill and reap every process but this one. As PID 1 of a PID namespace, kill(-1) reaches exactly the
    processes of this sandbox, grandchildren and orphans included. Without a PID namespace (the weaker
    opt-in), only the candidate's process group can be reached."""
    if params["pid_namespace"] and posix.getpid() == 1:
        for _ in range(100):
            try:
                posix.kill(-1, 9)
            except ProcessLookupError:
                pass
            try:
                while posix.waitpid(-1, 0):
                    pass
            except ChildProcessError:
                return
    elif pid > 0:
        try:
            posix.killpg(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            posix.waitpid(pid, 0)
        except ChildProcessError:
            pass
        try:
            while posix.waitpid(-1, posix.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


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


# ---------------------------------------------------------------------------------------------- candidate side

def candidate_main(params: dict) -> None:
    """The rpc-mode candidate process: load the code, then answer requests (arriving on fd 0) with replies
    (leaving on fd 1). Both channels move to other fds first and 0, 1, 2 become /dev/null, so that the
    candidate's prints go nowhere instead of into its own replies."""
    set_candidate_limits(params["limits"])
    rfd, wfd = posix.dup(0), posix.dup(1)
    devnull = posix.open("/dev/null", posix.O_RDWR)
    for fd in (0, 1, 2):
        posix.dup2(devnull, fd)
    posix.close(devnull)
    reader = FrameReader(rfd)
    handles: dict[int, object] = {}
    ns: dict = {"__name__": MODULE_NAME, "__builtins__": builtins}

    def enc(value):
        t = type(value)
        if value is None or t is bool or t is int or t is float or t is str:
            return value
        if t is list:
            return [enc(v) for v in value]
        if t is tuple:
            return {"T": [enc(v) for v in value]}
        if t is dict:
            return {"D": [[enc(k), enc(v)] for k, v in value.items()]}
        if t is set:
            return {"S": [enc(v) for v in value]}
        if t is frozenset:
            return {"F": [enc(v) for v in value]}
        if t is bytes:
            return {"B": value.hex()}
        if t is complex:
            return {"C": [value.real, value.imag]}
        if len(handles) >= 100_000:
            raise MemoryError("too many live candidate objects")
        hid = len(handles) + 1
        handles[hid] = value
        return {"H": hid}

    def dec(raw):
        t = type(raw)
        if t is list:
            return [dec(v) for v in raw]
        if t is dict:
            ((tag, v),) = raw.items()
            if tag == "T":
                return tuple(dec(x) for x in v)
            if tag == "D":
                return {dec(k): dec(x) for k, x in v}
            if tag == "S":
                return {dec(x) for x in v}
            if tag == "F":
                return frozenset(dec(x) for x in v)
            if tag == "B":
                return bytes.fromhex(v)
            if tag == "C":
                return complex(v[0], v[1])
            if tag == "H":
                return handles[v]
            raise ValueError(f"unknown tag {tag!r}")
        return raw

    def target(t):
        if type(t) is str:
            try:
                return ns[t]
            except KeyError:
                raise NameError(f"name {t!r} is not defined") from None
        return handles[t]

    try:
        exec(compile(params["code"], "<solution>", "exec"), ns)
        names = {}
        for name, value in list(ns.items()):
            if name.startswith("__"):
                continue
            try:
                encoded = enc(value)
            except BaseException:
                encoded = {"N": 1}
            names[name] = {"N": 1} if type(encoded) is dict and "H" in encoded else encoded
        load: dict = {"names": names}
    except BaseException as exc:
        load = {"e": [_builtin_exception_name(exc), _safe_str(exc)]}
    try:
        send_frame(wfd, load)
    except BaseException:
        send_frame(wfd, {"e": ["ValueError", "the module's globals could not be sent"]})
    if "e" in load:
        posix._exit(0)

    while True:
        req = reader.read(None)
        seq, op = req["i"], req["op"]
        mutated = {}
        try:
            obj = target(req["t"])
            if op == "call":
                raw_args = req["a"]
                args = [dec(a) for a in raw_args]
                kwargs = {k: dec(v) for k, v in req["k"].items()}
                result = obj(*args, **kwargs)
                for i, arg in enumerate(args):  # in-place changes to list/dict/set arguments go back
                    if type(arg) in (list, dict, set):
                        after = enc(arg)
                        if after != raw_args[i]:
                            mutated[str(i)] = after
            elif op == "getattr":
                result = getattr(obj, req["n"])
            elif op == "setattr":
                setattr(obj, req["n"], dec(req["v"]))
                result = None
            elif op == "iter":
                result = iter(obj)
            elif op == "next":
                result = next(obj)
            elif op == "getitem":
                result = obj[dec(req["n"])]
            elif op == "setitem":
                obj[dec(req["n"])] = dec(req["v"])
                result = None
            elif op in ("len", "str", "int", "float", "index"):
                convert: dict = {"len": len, "str": str, "int": int, "float": float,
                                 "index": lambda o: o.__index__()}
                result = convert[op](obj)
            else:
                raise ValueError(f"unknown operation {op!r}")
            out = {"i": seq, "v": enc(result)}
            if mutated:
                out["m"] = mutated
        except BaseException as exc:
            out = {"i": seq, "e": [_builtin_exception_name(exc), _safe_str(exc)]}
        try:
            send_frame(wfd, out)
        except BaseException as exc:
            send_frame(wfd, {"i": seq, "e": [_builtin_exception_name(exc), "the result could not be sent: "
                                            + _safe_str(exc)]})


# ---------------------------------------------------------------------------------------------- harness side

class Runner:
    """The harness's view of the rpc-mode candidate process: spawn, call, kill, respawn."""

    def __init__(self, params: dict) -> None:
        self.params = params
        self.pid = -1
        self.gen = 0
        self.alive = False
        self.wfd = -1
        self.reader: FrameReader | None = None
        self.seq = 0
        self.load: dict | None = None

    def spawn(self, *, fresh_interpreter: bool) -> None:
        """Start the candidate process: forked (only before the tests are read) or a new interpreter."""
        req_r, req_w = posix.pipe()
        rep_r, rep_w = posix.pipe()
        devnull = posix.open("/dev/null", posix.O_RDWR)
        pid = posix.fork()
        if pid == 0:
            try:
                _become_child(req_r, rep_w, devnull)
                if fresh_interpreter:
                    posix.execv(sys.executable, [sys.executable, "-I", "-S", "-c", BOOTSTRAP])
                candidate_main(self.params)
            finally:
                posix._exit(70)
        for fd in (req_r, rep_w, devnull):
            posix.close(fd)
        posix.set_blocking(req_w, False)
        self.gen += 1
        self.pid = pid
        self.alive = True
        self.wfd = req_w
        try:
            pidfd = posix.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = -1
        self.reader = FrameReader(rep_r, pidfd)
        if fresh_interpreter:
            params = dict(self.params, role="candidate")
            frame = marshal.dumps((_G["CODE"], params))
            _write_all(req_w, b"%016x" % len(frame) + frame, None)

    def wait_loaded(self, deadline: float) -> dict:
        assert self.reader is not None
        try:
            load = self.reader.read(deadline)
        except TestTimeout:
            self.kill()
            return {"e": ["TimeoutError", "defining the candidate's code did not finish in time"]}
        except Exception as exc:  # CandidateDied, or MemoryError from what it sent: the candidate's doing
            self.kill()
            return {"e": ["CandidateDied", _safe_str(exc)]}
        if type(load) is not dict or not (type(load.get("names")) is dict or type(load.get("e")) is list):
            self.kill()
            return {"e": ["CandidateDied", "the candidate answered the load with a malformed message"]}
        return load

    def kill(self) -> None:
        if self.pid > 0:
            kill_all(self.params, self.pid)
        for fd in (self.wfd, self.reader.fd if self.reader else -1, self.reader.pidfd if self.reader else -1):
            if fd >= 0:
                try:
                    posix.close(fd)
                except OSError:
                    pass
        self.reader = None
        self.wfd = -1
        self.pid = -1
        self.alive = False

    def request(self, op: str, target, deadline: float, **fields):
        if not self.alive or self.reader is None:
            raise CandidateDied("the candidate's process is gone (it crashed or timed out earlier in this test)")
        self.seq += 1
        msg = {"i": self.seq, "op": op, "t": target, **fields}
        try:
            send_frame(self.wfd, msg, deadline)
            reply = self.reader.read(deadline)
        except BaseException:
            self.kill()
            raise
        if type(reply) is not dict or reply.get("i") != self.seq:
            self.kill()
            raise CandidateDied("the candidate answered out of turn")
        return reply


class Remote:
    """A candidate object seen from the harness. See the module docstring for what it allows."""

    __slots__ = ("_gen", "_h", "_target")

    def __init__(self, h: "Harness", target, gen) -> None:
        object.__setattr__(self, "_h", h)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_gen", gen)

    def _rpc(self, op: str, **fields):
        h = self._h
        if self._gen is not None and self._gen != h.runner.gen:
            raise CandidateDied("this object belonged to a candidate process that has since been replaced")
        return h.rpc(op, self._target, **fields)

    def __call__(self, *args, **kwargs):
        return self._rpc("call", a=args, k=kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._rpc("getattr", n=name)

    def __setattr__(self, name: str, value) -> None:
        self._rpc("setattr", n=name, v=value)

    def __iter__(self):
        return self._rpc("iter")

    def __next__(self):
        return self._rpc("next")

    def __getitem__(self, key):
        return self._rpc("getitem", n=key)

    def __setitem__(self, key, value) -> None:
        self._rpc("setitem", n=key, v=value)

    def __len__(self) -> int:
        return self._typed("len", int)

    def __str__(self) -> str:
        return self._typed("str", str)

    def __int__(self) -> int:
        return self._typed("int", int)

    def __index__(self) -> int:
        return self._typed("index", int)

    def __float__(self) -> float:
        return self._typed("float", float)

    def _typed(self, op: str, t: type):
        value = self._rpc(op)
        if type(value) is not t:
            raise CandidateError(f"{op}() of a candidate object returned {type(value).__name__}, not {t.__name__}")
        return value

    def __repr__(self) -> str:
        return f"<candidate object {self._target!r}>"

    def _untrusted(self, *_):
        raise CandidateObjectError(
            "the candidate returned a non-plain object; comparing it or testing its truth would let the candidate "
            "decide the outcome, so it is not allowed")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __contains__ = _untrusted
    __hash__ = None  # type: ignore[assignment]


class Harness:
    def __init__(self, params: dict) -> None:
        self.params = params
        self.limits = params["limits"]
        self.runner = Runner(params)
        self.deadline = 0.0

    # values crossing to the candidate ------------------------------------------------------------------
    def enc(self, value, depth: int = 0):
        if depth > 200:
            raise Unsupported("an argument nested deeper than 200 levels")
        t = type(value)
        if value is None or t is bool or t is int or t is float or t is str:
            return value
        d = depth + 1
        if t is list:
            return [self.enc(v, d) for v in value]
        if t is tuple:
            return {"T": [self.enc(v, d) for v in value]}
        if t is dict:
            return {"D": [[self.enc(k, d), self.enc(v, d)] for k, v in value.items()]}
        if t is set:
            return {"S": [self.enc(v, d) for v in value]}
        if t is frozenset:
            return {"F": [self.enc(v, d) for v in value]}
        if t is bytes:
            return {"B": value.hex()}
        if t is complex:
            return {"C": [value.real, value.imag]}
        if t is Remote:
            target, gen = value._target, value._gen
            if gen is not None and gen != self.runner.gen:
                raise CandidateDied("an argument belonged to a candidate process that has since been replaced")
            if type(target) is str:
                raise Unsupported("passing a candidate's global back to it")
            return {"H": target}
        raise Unsupported(f"the test passed a {t.__name__} to the candidate; only plain data can cross the sandbox")

    def dec(self, raw, depth: int = 0):
        if depth > 200:  # well inside the interpreter's recursion limit
            raise CandidateError("the candidate returned a value nested deeper than 200 levels")
        t = type(raw)
        if raw is None or t is bool or t is int or t is float or t is str:
            return raw
        d = depth + 1
        if t is list:
            return [self.dec(v, d) for v in raw]
        if t is dict and len(raw) == 1:
            ((tag, v),) = raw.items()
            try:
                if tag == "T" and type(v) is list:
                    return tuple(self.dec(x, d) for x in v)
                if tag == "D" and type(v) is list:
                    return {self.dec(k, d): self.dec(x, d) for k, x in v}
                if tag == "S" and type(v) is list:
                    return {self.dec(x, d) for x in v}
                if tag == "F" and type(v) is list:
                    return frozenset(self.dec(x, d) for x in v)
                if tag == "B" and type(v) is str:
                    return bytes.fromhex(v)
                if tag == "C" and type(v) is list and len(v) == 2 and all(type(x) in (int, float) for x in v):
                    return complex(v[0], v[1])
                if tag == "H" and type(v) is int:
                    return Remote(self, v, self.runner.gen)
            except (TypeError, ValueError) as exc:
                raise CandidateError(f"the candidate returned an unusable value: {exc}") from None
        raise CandidateError("the candidate returned a value in an unknown encoding")

    def rpc(self, op: str, target, **fields):
        wire: dict = {}
        for key, value in fields.items():
            if key == "a":
                wire["a"] = [self.enc(v) for v in value]
            elif key == "k":
                wire["k"] = {str(k): self.enc(v) for k, v in value.items()}
            elif key in ("v",) or (key == "n" and op in ("getitem", "setitem")):
                wire[key] = self.enc(value)
            else:
                wire[key] = value
        reply = self.runner.request(op, target, self.deadline, **wire)
        if "e" in reply:
            raise self._exception(reply["e"], op)
        if "v" not in reply:
            raise CandidateDied("the candidate sent a reply without a value")
        result = self.dec(reply["v"])
        mutated = reply.get("m")
        if op == "call" and type(mutated) is dict:
            args = fields["a"]
            for key, raw in mutated.items():
                if type(key) is str and key.isdigit() and int(key) < len(args):
                    self._copy_back(args[int(key)], self.dec(raw))
        return result

    @staticmethod
    def _copy_back(original, new) -> None:
        if type(original) is list and type(new) is list:
            original[:] = new
        elif type(original) in (dict, set) and type(original) is type(new):
            original.clear()
            original.update(new)

    @staticmethod
    def _exception(err, op: str) -> BaseException:
        if type(err) is not list or len(err) != 2 or not all(type(x) is str for x in err):
            return CandidateDied("the candidate sent a malformed error")
        name, message = err
        if name == "StopIteration" and op == "next":
            return StopIteration()
        cls = getattr(builtins, name, None)
        if (isinstance(cls, type) and issubclass(cls, Exception)
                and not issubclass(cls, (StopIteration, StopAsyncIteration))):
            try:
                return cls(message)
            except Exception:
                pass
        return CandidateError(f"{name}: {message}")

    # running tests ---------------------------------------------------------------------------------------
    def start_test(self, budget_end: float) -> None:
        self.deadline = min(time.monotonic() + self.limits["timeout_s"], budget_end)
        _signal.setitimer(_signal.ITIMER_REAL, max(self.deadline - time.monotonic(), 0.001))

    def end_test(self) -> None:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        self.deadline = 0.0

    def on_alarm(self, signum, frame) -> None:
        # The candidate may send SIGALRM too (a handled signal reaches PID 1): act only on the real deadline.
        if self.deadline and time.monotonic() >= self.deadline:
            raise TestTimeout()

    def namespace(self, names: dict) -> dict:
        ns: dict = {"__name__": "__referee_tests__", "__builtins__": builtins}
        for name, raw in names.items():
            if type(raw) is dict and raw.get("N") == 1 and len(raw) == 1:
                ns[name] = Remote(self, name, None)
            else:
                try:
                    ns[name] = self.dec(raw)
                except (CandidateError, RecursionError, MemoryError, TypeError, ValueError):
                    ns[name] = Remote(self, name, None)  # whatever the candidate sent: it cannot stop the run
        entry = self.params.get("entry_point")
        if entry:
            ns["candidate"] = ns.get(entry, Remote(self, entry, None))
        return ns

    def run_one(self, code, ns: dict, budget_end: float, call: str | None = None) -> dict:
        """Execute one test (a compiled statement, or a call of `ns[call]`), under the per-test deadline."""
        if not self.runner.alive:
            try:
                self.runner.spawn(fresh_interpreter=True)
                load = self.runner.wait_loaded(min(time.monotonic() + self.limits["timeout_s"], budget_end))
            except Exception as exc:  # e.g. fork failed: the candidate's processes are all gone by now, so rare
                self.runner.kill()
                load = {"e": [type(exc).__name__, _safe_str(exc)]}
            if "e" in load:
                return {"passed": False, "kind": "crash", "error": "restarting the candidate failed: "
                        + ": ".join(load["e"])[:MAX_ERROR]}
        started = time.monotonic()
        try:
            self.start_test(budget_end)
            try:
                if call is None:
                    exec(code, ns)
                else:
                    returned = ns[call]() if code is None else ns[call](code)
                    if returned is not None:
                        raise CandidateError(f"test {call} returned {type(returned).__name__}, not None")
            finally:
                self.end_test()
        except TestTimeout:
            self.runner.kill()
            return {"passed": False, "kind": "timeout", "error": f"no result within {self.limits['timeout_s']:g}s",
                    "seconds": time.monotonic() - started}
        except Unsupported as exc:
            return {"passed": False, "kind": "unsupported", "error": _safe_str(exc)}
        except CandidateDied as exc:
            self.runner.kill()
            return {"passed": False, "kind": "crash", "error": _safe_str(exc)}
        except BaseException as exc:
            kind = "fail" if isinstance(exc, AssertionError) else "error"
            return {"passed": False, "kind": kind, "error": f"{type(exc).__name__}: {_safe_str(exc)}"}
        return {"passed": True, "kind": "ok", "seconds": time.monotonic() - started}

    def run_rpc(self, tests: dict, budget_end: float) -> dict:
        load = self.runner.wait_loaded(min(time.monotonic() + self.limits["timeout_s"], budget_end))
        items = tests["items"]
        if "e" in load:
            error = "the candidate's code failed to load: " + ": ".join(load["e"])[:MAX_ERROR]
            return {"load_error": error, "results": [{"passed": False, "kind": "load_error", "error": error}
                                                     for item in items if item["kind"] != "setup"]}
        ns = self.namespace(load["names"])
        results: list = []
        setup_errors: list = []
        for item in items:
            if time.monotonic() >= budget_end:
                results.append({"passed": False, "kind": "not_run", "error": "the run's time budget was used up"})
                continue
            kind, source, line = item["kind"], item["source"], item.get("line", 1)
            try:
                code = compile("\n" * (line - 1) + source, "<tests>", "exec")
            except (SyntaxError, ValueError) as exc:  # the host parsed it already: cannot happen
                results.append({"passed": False, "kind": "unsupported", "error": f"SyntaxError: {exc}"})
                continue
            if kind == "setup":
                outcome = self.run_one(code, ns, budget_end)
                if not outcome["passed"]:
                    setup_errors.append({"line": line, "error": outcome.get("error")})
            elif kind == "assert":
                results.append(self.run_one(code, ns, budget_end))
            elif kind == "function":
                results.append(self.run_one(None, ns, budget_end, call=source))
            elif kind == "check":
                entry = self.params.get("entry_point") or ""
                if entry not in load["names"]:
                    results.append({"passed": False, "kind": "fail",
                                    "error": f"the candidate does not define {entry!r}"})
                else:
                    results.append(self.run_one(ns["candidate"], ns, budget_end, call=source))
        out = {"results": results}
        if setup_errors:
            out["setup_errors"] = setup_errors[:20]
        return out

    # stdio mode ------------------------------------------------------------------------------------------
    def run_case(self, data: str, budget_end: float) -> dict:
        limits = self.limits
        out_cap = limits["output_kb"] << 10
        memfd = posix.memfd_create("stdin", 0)
        _write_all(memfd, data.encode("utf-8", "surrogatepass"), None)
        posix.lseek(memfd, 0, 0)
        out_r, out_w = posix.pipe()
        err_r, err_w = posix.pipe()
        pid = posix.fork()
        if pid == 0:
            exit_status = 70
            try:
                _become_child(memfd, out_w, err_w)
                set_candidate_limits(limits)
                exit_status = _run_main(self.params["code"])
            finally:
                posix._exit(exit_status)
        for fd in (memfd, out_w, err_w):
            posix.close(fd)
        started = time.monotonic()
        deadline = min(started + limits["timeout_s"], budget_end)
        try:
            pidfd = posix.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = -1
        poller = select.poll()
        bufs = {out_r: bytearray(), err_r: bytearray()}
        for fd in bufs:
            posix.set_blocking(fd, False)
            poller.register(fd, select.POLLIN)
        if pidfd >= 0:
            poller.register(pidfd, select.POLLIN)
        open_fds = set(bufs)
        status: str | None = None
        exit_code: int | None = None
        while status is None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                status = "timeout"
                break
            events = poller.poll(min(wait, 0.05 if pidfd < 0 else wait) * 1000)
            for fd, _ in events:
                if fd in open_fds:
                    try:
                        chunk = posix.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        poller.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    buf = bufs[fd]
                    buf += chunk
                    if fd == out_r and len(buf) > out_cap:
                        status = "output_limit"
                    elif fd == err_r and len(buf) > 8192:
                        del buf[:-4096]
            if status is None and (not open_fds or pidfd < 0 or any(fd == pidfd for fd, _ in events)):
                done, code = posix.waitpid(pid, posix.WNOHANG)
                if done:
                    exit_code = code
                    status = "exited"
        if exit_code is None:
            try:
                posix.kill(pid, 9)
            except ProcessLookupError:
                pass
        for fd in list(open_fds):  # whatever the candidate wrote before it exited or was stopped
            try:
                while chunk := posix.read(fd, 65536):
                    bufs[fd] += chunk
                    if len(bufs[fd]) > out_cap + 65536:
                        break
            except BlockingIOError:
                pass
        kill_all(self.params, pid)
        for fd in (out_r, err_r, pidfd):
            if fd >= 0:
                posix.close(fd)
        seconds = time.monotonic() - started
        stderr_tail = bytes(bufs[err_r][-MAX_ERROR:]).decode("utf-8", "replace")
        if status == "exited" and exit_code is not None:
            if posix.WIFEXITED(exit_code):
                code_ = posix.WEXITSTATUS(exit_code)
                status = "ok" if code_ == 0 else f"exit {code_}"
            else:
                status = f"signal {posix.WTERMSIG(exit_code)}"
        stdout = bytes(bufs[out_r][:out_cap]).decode("utf-8", "replace")
        return {"status": status, "stdout": stdout, "stderr": stderr_tail, "seconds": seconds}

    def run_stdio(self, tests: dict, budget_end: float) -> dict:
        results = []
        budget = REPORT_OUTPUT_BUDGET  # of JSON-escaped stdout in the report: floods fail cases, not the run
        for data in tests["inputs"]:
            if time.monotonic() >= budget_end:
                results.append({"status": "not_run", "stdout": "", "stderr": ""})
                continue
            result = self.run_case(data, budget_end)
            size = len(_json.encode_basestring_ascii(result["stdout"]))
            if size > budget:
                result.update(status="output_limit", stdout="")
            else:
                budget -= size
            results.append(result)
        return {"results": results}


def _run_main(code: str) -> int:
    """Run the candidate as a script (`__name__ == "__main__"`); the exit status a shell would see."""
    ns = {"__name__": "__main__", "__builtins__": builtins}
    status = 0
    try:
        exec(compile(code, "<solution>", "exec"), ns)
    except SystemExit as exc:
        if exc.code is None:
            status = 0
        elif type(exc.code) is int:
            status = exc.code & 0xFF
        else:
            status = 1
            _stderr(_safe_str(exc.code))
    except BaseException as exc:
        status = 1
        _stderr(f"{type(exc).__name__}: {_safe_str(exc)}")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    return status


def _stderr(text: str) -> None:
    try:
        posix.write(2, (text + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def _harness_main(params: dict) -> None:
    report_fd = posix.dup(1)  # not inheritable: no child, forked or exec'd, ever holds it
    devnull = posix.open("/dev/null", posix.O_RDWR)
    posix.dup2(devnull, 1)
    posix.dup2(devnull, 2)
    posix.close(devnull)
    report: dict = {"complete": False}
    try:
        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)  # Python's default handler would make SIGINT deliverable
        set_shared_limits(params["limits"])
        harness = Harness(params)
        _signal.signal(_signal.SIGALRM, harness.on_alarm)
        if params["mode"] == "rpc":
            harness.runner.spawn(fresh_interpreter=False)  # before the tests exist in this process
        tests = marshal.loads(_G["READ"](int(_G["READ"](16), 16)))
        report["nonce"] = tests["nonce"]
        budget_end = time.monotonic() + params["limits"]["total_timeout_s"]
        if params["mode"] == "rpc":
            report.update(harness.run_rpc(tests, budget_end))
        else:
            report.update(harness.run_stdio(tests, budget_end))
        if not params["pid_namespace"]:
            harness.runner.kill()  # with a PID namespace, this process's exit takes every other one with it
        report["complete"] = True
    except BaseException as exc:
        report["complete"] = False
        report["error"] = f"harness failed: {type(exc).__name__}: {_safe_str(exc)}"
    try:
        body = dumps(report)
    except BaseException as exc:
        body = dumps({"complete": False, "error": f"report could not be encoded: {_safe_str(exc)}"})
    _write_all(report_fd, body, None)
    posix._exit(0)


if __name__ == "__referee_harness__":
    if _G["PARAMS"]["role"] == "candidate":
        candidate_main(_G["PARAMS"])
    else:
        _harness_main(_G["PARAMS"])
