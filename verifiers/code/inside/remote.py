"""Inside the sandbox, PID 1's side of the rpc protocol: starting the candidate's process (`Runner`), its
objects seen from the tests (`Remote`), and the values that cross (`Link`)."""

import builtins
import marshal
import posix
import sys

if not __name__.startswith("__referee"):  # for readers and tools on the host; see __init__.py
    from .candidate import candidate_main
    from .common import (
        _G,
        BOOTSTRAP,
        CandidateDied,
        CandidateError,
        CandidateObjectError,
        FrameReader,
        TestTimeout,
        Unsupported,
        _become_child,
        _safe_str,
        _write_all,
        kill_all,
        send_frame,
    )


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
        self.last_status: int | None = None  # wait status of the last candidate process killed and reaped

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
            self.last_status = kill_all(self.params, self.pid)
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

    def __init__(self, h: "Link", target, gen) -> None:
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




class Link:
    """Values crossing between the test code and the candidate process, under the current test's deadline."""

    def __init__(self, params: dict) -> None:
        self.params = params
        self.limits = params["limits"]
        self.runner = Runner(params)
        self.deadline = 0.0

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
