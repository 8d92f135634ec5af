"""The fork server inside the sandbox: a warm interpreter that turns each run into a fresh process tree in
fresh namespaces, without paying for bwrap and interpreter start-up every time.

Not imported by referee: the host (../sandbox.py) starts it once per `Sandbox` with bwrap and sends it this
code with the harness's code and the seccomp filter (BOOTSTRAP in common.py reads the frame). It runs as PID 1
of its own bwrap sandbox: uid 1000 in a user namespace, no network, a read-only root, /proc of its own PID
namespace (needed to write each run's uid map), no capabilities outside that namespace.

For each request on the control socket (a few numbers and two fds: the run's stdin and report pipes,
never code or tests: this process must never hold a run's data, or the next run, a fork of it, could find
it in memory) it forks:
- A, the run's monitor: new user namespace (uid 1000 -> 1000, so the host uid is the same unprivileged one
  and RLIMIT_NPROC counts per run), then new mount, PID, network, IPC and UTS namespaces; / made private; a
  fresh tmpfs of `disk` bytes on /tmp; an empty read-only tmpfs over /proc (so nothing of the fork server's
  PID namespace, other runs included, is visible); hostname "sandbox". A forks B and waits for it.
- B, PID 1 of the new PID namespace: dies with A (PR_SET_PDEATHSIG), drops every capability and the
  bounding set, sets no_new_privs, loads the seccomp filter, starts a new session, moves to /tmp, keeps
  only the two pipes as fds 0 and 1, and runs the harness (already compiled here) on them.
The reply carries a pidfd for A: the host kills A at its deadline, B dies with it, and the kernel kills
everything else in B's namespace.
"""

import ctypes
import marshal
import posix
import select
import socket

_G = globals()  # BOOTSTRAP puts CODE, PARAMS and READ here
_P = _G["PARAMS"]

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 1, 2, 4, 8, 0x4000, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_SECCOMP, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 22, 24, 38
_SECCOMP_MODE_FILTER = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_UID = 1000

_libc = ctypes.CDLL(None, use_errno=True)
_ulong = ctypes.c_ulong


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_filter_bytes = _P["seccomp"]
_filter_buf = ctypes.create_string_buffer(_filter_bytes, len(_filter_bytes)) if _filter_bytes else None
_fprog = _SockFprog(len(_filter_bytes) // 8, ctypes.addressof(_filter_buf)) if _filter_buf is not None else None

_HARNESS: dict = {"__name__": "__referee_harness_lib__"}  # its main guard stays off; B calls _harness_main
exec(_P["harness"], _HARNESS)
_HARNESS["CODE"] = _P["harness"]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {posix.strerror(errno)}")


def _write(path: str, text: str) -> None:
    fd = posix.open(path, posix.O_WRONLY)
    try:
        posix.write(fd, text.encode())
    finally:
        posix.close(fd)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, _ulong(flags),
                       data.encode() if data else None), f"mount {target}")


def _read_exact(fd: int, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = posix.read(fd, n - len(buf))
        if not chunk:
            posix._exit(3)
        buf += chunk
    return buf


def _become_run_pid1(stdin_fd: int, report_fd: int) -> None:
    """B: shed every privilege, then be the harness."""
    _libc.prctl(_PR_SET_PDEATHSIG, _ulong(9), _ulong(0), _ulong(0), _ulong(0))
    for cap in range(64):
        if _libc.prctl(_PR_CAPBSET_DROP, _ulong(cap), _ulong(0), _ulong(0), _ulong(0)) != 0:
            break  # EINVAL past the last capability this kernel knows
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, _ulong(1), _ulong(0), _ulong(0), _ulong(0)), "no_new_privs")
    if _fprog is not None:
        _check(_libc.prctl(_PR_SET_SECCOMP, _ulong(_SECCOMP_MODE_FILTER), ctypes.c_void_p(ctypes.addressof(_fprog)),
                           _ulong(0), _ulong(0)), "seccomp")
    posix.setsid()
    posix.chdir("/tmp")
    posix.dup2(stdin_fd, 0)
    posix.dup2(report_fd, 1)
    devnull = posix.open("/dev/null", posix.O_RDWR)
    posix.dup2(devnull, 2)
    posix.closerange(3, 65536)

    def read(n: int) -> bytes:
        return _read_exact(0, n)

    _HARNESS["READ"] = read
    _, params = marshal.loads(read(int(read(16), 16)))
    _HARNESS["_harness_main"](params)


def _run(request: dict, stdin_fd: int, report_fd: int) -> None:
    """A: new namespaces, then fork B and wait for it."""
    try:
        low, high = sorted((stdin_fd, report_fd))
        posix.closerange(3, low)  # the control socket and anything else inherited from the fork server
        posix.closerange(low + 1, high)
        posix.closerange(high + 1, 65536)
        _check(_libc.unshare(_CLONE_NEWUSER), "unshare(user)")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{_UID} {_UID} 1")
        _write("/proc/self/gid_map", f"{_UID} {_UID} 1")
        _check(_libc.unshare(_CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS),
               "unshare(mount, pid, net, ipc, uts)")
        _check(_libc.mount(None, b"/", None, _ulong(_MS_REC | _MS_PRIVATE), None), "make / private")
        _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={request['disk']},mode=0755")
        _mount("tmpfs", "/proc", "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=4k,mode=0555")
        _check(_libc.sethostname(b"sandbox", 7), "sethostname")
        pid = posix.fork()
        if pid == 0:
            try:
                _become_run_pid1(stdin_fd, report_fd)
            finally:
                posix._exit(71)
        posix.close(stdin_fd)
        posix.close(report_fd)
        posix.waitpid(pid, 0)
        posix._exit(0)
    except BaseException as exc:
        try:
            message = f"setting up the run failed: {type(exc).__name__}: {exc}".replace('"', "'")
            posix.write(report_fd, ('{"complete": false, "error": "' + message + '"}').encode())
        finally:
            posix._exit(1)


def _serve(control: socket.socket) -> None:
    poller = select.poll()
    poller.register(control.fileno(), select.POLLIN)
    while True:
        if poller.poll(500):
            msg, fds, _, _ = socket.recv_fds(control, 4096, 2)
            if not msg:
                posix._exit(0)  # the host closed the control socket
            request = marshal.loads(msg)
            reply: dict = {"id": request["id"]}
            pidfd = -1
            try:
                if len(fds) != 2:
                    raise OSError(f"expected 2 fds, got {len(fds)}")
                pid = posix.fork()
                if pid == 0:
                    control.close()
                    _run(request, fds[0], fds[1])
                pidfd = posix.pidfd_open(pid)
                reply["pid"] = pid
            except OSError as exc:
                reply["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                for fd in fds:
                    posix.close(fd)
            socket.send_fds(control, [marshal.dumps(reply)], [pidfd] if pidfd >= 0 else [])
            if pidfd >= 0:
                posix.close(pidfd)
        try:  # reap finished monitors; their pidfds (held by the host) stay valid
            while posix.waitpid(-1, posix.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


if __name__ == "__referee_harness__":
    import gc

    gc.freeze()  # what is loaded now stays put: forks do not copy pages just for the collector to walk them
    _ctl = socket.socket(fileno=_P["control_fd"])
    socket.send_fds(_ctl, [marshal.dumps({"ready": True})], [])
    _serve(_ctl)
