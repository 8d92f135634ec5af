"""Inside the sandbox, the candidate's process: load the candidate's code and answer the harness's requests
(rpc mode), or run it as a script (stdio mode). Nothing here is trusted by the harness: whatever this process
sends is checked there, because the candidate's code runs here and can change anything in it."""

import builtins
import posix
import sys

if not __name__.startswith("__referee"):  # for readers and tools on the host; see __init__.py
    from .common import (
        MODULE_NAME,
        FrameReader,
        _builtin_exception_name,
        _safe_str,
        send_frame,
        set_candidate_limits,
    )

_MODULE = type(sys)


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
            if type(value) is _MODULE:  # the harness binds its own copy (namespace.py): send only the name
                module_name = getattr(value, "__name__", None)
                names[name] = {"M": module_name} if type(module_name) is str else {"N": 1}
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

