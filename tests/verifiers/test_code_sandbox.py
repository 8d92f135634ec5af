"""The code sandbox's isolation, one adversarial test per property (issue 4), on the real sandbox.

Each candidate below tries to break out and *returns what happened* as plain data; the reference asserts the
safe outcome. So `value == 1.0` means "the attack failed", and a regression shows up as a failed test whose
details say what the candidate saw.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from referee.verifiers import ConfigError, Runtime, Sample, Score, UnscoredReason
from referee.verifiers.code import CodeConfig, CodeVerifier, Limits, Sandbox, parse_reference, preflight
from referee.verifiers.code import sandbox as sandbox_module
from referee.verifiers.code.seccomp import DENIED_X86_64

if shutil.which("bwrap") is None:
    if os.environ.get("CI"):
        raise RuntimeError("bubblewrap (bwrap) is not installed; CI must install it: apt-get install bubblewrap")
    pytest.skip("bubblewrap (bwrap) is not installed: apt-get install bubblewrap", allow_module_level=True)


async def score_many(samples: list[Sample], **options: Any) -> list[Score]:
    async with Runtime(workers=2) as rt:
        source = CodeVerifier(CodeConfig(**options), rt)
        return await source.score(samples)


async def score_one(code: str, reference: str, entry_point: str | None = None, **options: Any) -> Score:
    metadata = {"entry_point": entry_point} if entry_point else {}
    sample = Sample(completion=textwrap.dedent(code), reference=textwrap.dedent(reference), metadata=metadata)
    (score,) = await score_many([sample], **options)
    return score


def assert_all_passed(score: Score) -> None:
    assert score.reason is None, score.details
    failed = [t for t in score.details["tests"] if not t["passed"]]
    assert not failed, failed
    assert score.value == 1.0


def host_processes_with(marker: str) -> list[str]:
    """Command lines of live host processes (any state but zombie reaped) that contain `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def zombie_children() -> list[str]:
    me = str(os.getpid())
    zombies = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z" and fields[1] == me:
                zombies.append(stat)
    return zombies


# --------------------------------------------------------------------------------------------- network

async def test_no_network_tcp_to_host_loopback_or_outside() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        score = await score_one("""
            import socket
            def attempt(host, port):
                try:
                    socket.create_connection((host, port), timeout=2).close()
                    return "connected"
                except OSError as exc:
                    return exc.errno
            """, f"""
            import errno
            assert attempt("127.0.0.1", {port}) == errno.EAFNOSUPPORT
            assert attempt("1.1.1.1", 53) == errno.EAFNOSUPPORT
            """)
    finally:
        server.close()
    assert_all_passed(score)


async def test_no_network_even_for_unix_sockets_of_the_host() -> None:
    name = f"referee-test-{os.getpid()}-{time.monotonic_ns()}"
    server = socket.socket(socket.AF_UNIX)
    server.bind("\0" + name)  # abstract sockets belong to the network namespace
    server.listen()
    try:
        score = await score_one(f"""
            import socket
            def attempt():
                s = socket.socket(socket.AF_UNIX)
                try:
                    s.connect("\\0{name}")
                    return "connected"
                except OSError as exc:
                    return exc.errno
            """, """
            import errno
            assert attempt() == errno.ECONNREFUSED
            """)
    finally:
        server.close()
    assert_all_passed(score)


# --------------------------------------------------------------------------------------------- filesystem

THIS_FILE = str(Path(__file__).resolve())


async def test_cannot_read_outside_the_work_dir() -> None:
    secret = THIS_FILE
    score = await score_one("""
        import os
        def read(path):
            try:
                with open(path, "rb") as f:
                    return f.read(10)
            except OSError as exc:
                return type(exc).__name__
        def top():
            return sorted(os.listdir("/"))
        def ls(path):
            return os.listdir(path)
        """, f"""
        assert read({str(secret)!r}) == "FileNotFoundError"
        assert read("/etc/passwd") == "FileNotFoundError"
        assert read("/root/.bashrc") == "FileNotFoundError"
        assert read("/proc/1/mem") == "FileNotFoundError"
        assert read("/proc/self/environ") == "FileNotFoundError"
        assert read("/sys/kernel/notes") == "FileNotFoundError"
        assert set(top()) <= {{"bin", "dev", "lib", "lib32", "lib64", "libx32", "sbin", "tmp", "usr", "root", "opt",
                               "proc"}}
        assert ls("/proc") == []
        """)
    assert_all_passed(score)


async def test_cannot_write_outside_the_work_dir_and_work_dir_is_private() -> None:
    score = await score_one("""
        import os
        def write(path):
            try:
                with open(path, "w") as f:
                    f.write("x")
                return "written"
            except OSError as exc:
                return exc.errno
        def cwd():
            return os.getcwd(), os.listdir(".")
        """, """
        import errno, os
        assert cwd() == ("/tmp", [])
        for path in ["/x", "/usr/x", "/dev/x", "/bin/x", "/proc/x"]:
            assert write(path) == errno.EROFS, path
        assert write("/dev/shm/x") == errno.ENOENT
        assert sorted(os.listdir("/dev")) == ["full", "null", "random", "urandom", "zero"]
        assert write("/dev/null") == "written"
        assert write("/tmp/mine") == "written"
        """)
    assert_all_passed(score)
    # and the next run starts with an empty /tmp again
    assert_all_passed(await score_one("import os\ndef ls():\n    return os.listdir('/tmp')\n", "assert ls() == []"))


# --------------------------------------------------------------------------------------------- environment

async def test_no_host_environment_variable_reaches_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFEREE_CANARY_SECRET", "hunter2")
    score = await score_one("""
        import os, sys
        def env():
            return dict(os.environ)
        def flags():
            return sys.flags.isolated, sys.flags.no_site, os.getuid(), os.uname().nodename
        """, """
        e = env()
        assert "REFEREE_CANARY_SECRET" not in e
        assert "hunter2" not in repr(e)
        assert set(e) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_CTYPE", "PWD"}, sorted(e)
        assert flags() == (1, 1, 1000, "sandbox")
        """)
    assert_all_passed(score)


# --------------------------------------------------------------------------------------------- bombs

FORK_BOMB = """
    import os, time
    def bomb():
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                children += 1
        except OSError as exc:
            return children, exc.errno
    """


async def test_fork_bomb_is_capped_and_does_not_degrade_a_concurrent_run() -> None:
    bomb = Sample(completion=textwrap.dedent(FORK_BOMB), reference="import errno\nn, err = bomb()\n"
                  "assert err == errno.EAGAIN\nassert n < 8")
    normal = [Sample(completion=f"def f():\n    return {i}\n", reference=f"assert f() == {i}") for i in range(6)]
    scores = await score_many([bomb, *normal], max_processes=8)
    for score in scores:
        assert_all_passed(score)


async def test_thread_bomb_is_capped() -> None:
    score = await score_one("""
        import threading, time
        def bomb():
            n = 0
            try:
                while True:
                    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
                    n += 1
            except RuntimeError:
                return n
        """, "assert bomb() < 8", max_processes=8)
    assert_all_passed(score)


async def test_memory_bomb_hits_its_own_limit_and_the_harness_survives() -> None:
    score = await score_one("""
        def allocate(mb):
            try:
                block = bytearray(mb << 20)
                return len(block) >> 20
            except MemoryError:
                return "MemoryError"
        def hog():
            blocks = []
            while True:
                blocks.append(bytearray(16 << 20))
        """, """
        assert allocate(64) == 64
        assert allocate(400) == "MemoryError"
        assert hog() is None
        """, memory_mb=192)
    tests = score.details["tests"]
    assert [t["passed"] for t in tests] == [True, True, False]
    # MemoryError in the candidate, named as the memory limit; or the process killed
    assert (tests[2]["kind"], tests[2].get("limit")) in (("limit", "memory"), ("crash", None)), tests[2]
    assert score.value == pytest.approx(2 / 3)


async def test_disk_fill_is_capped_by_file_size_and_tmpfs_size() -> None:
    score = await score_one("""
        import errno
        def one_big_file():
            written = 0
            with open("/tmp/big", "wb") as f:
                try:
                    while True:
                        f.write(b"x" * (1 << 20))
                        f.flush()
                        written += 1
                except OSError as exc:
                    return written, exc.errno
        def many_files():
            written = 0
            try:
                for i in range(10_000):
                    with open(f"/tmp/f{i}", "wb") as f:
                        f.write(b"x" * (1 << 20))
                    written += 1
            except OSError as exc:
                return written, exc.errno
        """, """
        import errno
        n, err = one_big_file()
        assert n <= 8 and err in (errno.EFBIG, errno.ENOSPC), (n, err)
        import os
        n, err = many_files()
        assert n <= 8 and err == errno.ENOSPC, (n, err)
        """, disk_mb=8)
    assert_all_passed(score)


async def test_output_flood_is_cut_at_the_cap_and_fails_the_case() -> None:
    score = await score_one("""
        while True:
            print("x" * 1000)
        """, '[{"input": "", "output": "x"}, {"input": "", "output": "x"}]', output_kb=64, timeout_s=10)
    assert score.value == 0.0 and score.reason is None
    # cut by size, not by the clock (timeout_s is 10): output_limit, not timeout
    assert [t["kind"] for t in score.details["tests"]] == ["output_limit", "output_limit"]


async def test_print_flood_in_rpc_mode_goes_nowhere() -> None:
    score = await score_one("""
        def chatty(n):
            for _ in range(n):
                print("x" * 10_000)
            return n
        """, "assert chatty(20_000) == 20_000", timeout_s=20)
    assert_all_passed(score)


# --------------------------------------------------------------------------------------------- time

async def test_infinite_loop_fails_its_test_and_the_next_tests_still_run() -> None:
    score = await score_one("""
        def spin():
            while True:
                pass
        def ok():
            return 1
        """, """
        assert ok() == 1
        assert spin() == 1
        assert ok() == 1
        """, timeout_s=1)
    tests = score.details["tests"]
    assert [t["passed"] for t in tests] == [True, False, True]
    assert tests[1]["kind"] == "timeout"
    assert score.value == pytest.approx(2 / 3) and score.reason is None


async def test_infinite_loop_at_top_level_fails_every_test() -> None:
    score = await score_one("while True:\n    pass\n", "assert True\nassert True", timeout_s=1)
    assert score.value == 0.0 and score.reason is None
    assert "in time" in score.details["load_error"]


async def test_infinite_loop_in_test_code_is_stopped_too() -> None:
    score = await score_one("def n():\n    return 10**12\n", "done = False\nfor i in range(n()):\n    pass\n"
                            "else:\n    done = True\nassert done\nassert n() == 10**12", timeout_s=1)
    # the setup loop runs in the harness; the per-test alarm stops it and the asserts after it still run
    assert score.reason is None
    assert [t["passed"] for t in score.details["tests"]] == [False, True]
    assert score.details["setup_errors"][0]["line"] == 2


async def test_sigterm_ignored_is_killed_anyway() -> None:
    score = await score_one("""
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        def stubborn():
            while True:
                pass
        """, "assert stubborn() == 1\nassert stubborn() == 1", timeout_s=1)
    assert score.value == 0.0 and [t["kind"] for t in score.details["tests"]] == ["timeout", "timeout"]


async def test_double_fork_leaves_no_survivor_and_no_zombie() -> None:
    marker = f"{time.monotonic_ns() % 10**9}.5"  # unique sleep duration, visible in the host's process list
    score = await score_one(f"""
        import os
        def escape():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "{marker}"])
                os._exit(0)
            os.wait()
            return "detached"
        """, 'assert escape() == "detached"')
    assert_all_passed(score)
    assert host_processes_with(marker) == []
    assert zombie_children() == []


async def test_survivor_of_a_timed_out_run_is_killed() -> None:
    marker = f"{time.monotonic_ns() % 10**9}.25"
    score = await score_one(f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            os.execv("/bin/sleep", ["sleep", "{marker}"])
        while True:
            time.sleep(1)
        """, "assert True", timeout_s=1)
    assert score.value == 0.0
    assert host_processes_with(marker) == []
    assert zombie_children() == []


async def test_host_deadline_kills_the_whole_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last line of defence: if the harness itself stalls, the host kills bwrap and with it the namespace;
    the result is unscored `sandbox_error`, not a 0. The seam: a host deadline shorter than the test's."""
    marker = f"{time.monotonic_ns() % 10**9}.75"
    monkeypatch.setattr(sandbox_module, "_STARTUP_GRACE_S", -2.5)  # host deadline = total_timeout_s - 2.5
    score = await score_one(f"""
        import os
        def slow():
            if os.fork() == 0:
                os.setsid()
                os.execv("/bin/sleep", ["sleep", "{marker}"])
            while True:
                pass
        """, "assert slow() == 1", timeout_s=3, total_timeout_s=3)
    assert score.value is None and score.reason == UnscoredReason.SANDBOX_ERROR
    assert "did not report" in score.details["error"]
    await asyncio.sleep(0.2)
    assert host_processes_with(marker) == []
    assert zombie_children() == []


# --------------------------------------------------------------------------------------------- kernel surface

async def test_seccomp_denies_ptrace_namespaces_and_odd_sockets() -> None:
    score = await score_one("""
        import ctypes, os, socket
        libc = ctypes.CDLL(None, use_errno=True)
        def ptrace_attach_harness():
            return libc.ptrace(16, 1, 0, 0), ctypes.get_errno()  # PTRACE_ATTACH to PID 1
        def unshare_user():
            return libc.unshare(0x10000000), ctypes.get_errno()  # CLONE_NEWUSER
        def vsock():
            try:
                socket.socket(40, socket.SOCK_STREAM)  # AF_VSOCK: not namespaced
                return "created"
            except OSError as exc:
                return exc.errno
        """, """
        import errno
        assert ptrace_attach_harness() == (-1, errno.EPERM)
        assert unshare_user() == (-1, errno.EPERM)
        assert vsock() == errno.EAFNOSUPPORT
        """)
    assert_all_passed(score)


def test_seccomp_numbers_match_the_kernel_headers() -> None:
    header = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
    if not header.exists():
        pytest.skip("kernel headers not installed (linux-libc-dev)")
    numbers = {}
    for line in header.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_"):
            numbers[parts[1][5:]] = int(parts[2])
    for name, nr in DENIED_X86_64.items():
        assert numbers.get(name, nr) == nr, name


# --------------------------------------------------------------------------------------------- failures

def test_refuses_to_start_without_bubblewrap_unless_weaker_isolation_is_chosen(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None if name == "bwrap" else real_which(name))
    with pytest.raises(ConfigError, match=r"apt-get install bubblewrap.*isolation='rlimits'"):
        preflight("strict")
    with pytest.raises(ConfigError, match="bubblewrap"):
        CodeVerifier(CodeConfig(), Runtime())
    assert preflight("rlimits") == ""


@pytest.mark.parametrize("isolation", ["namespaces", "rlimits"])
async def test_weaker_isolation_opt_in_still_runs_tests(isolation: str) -> None:
    score = await score_one("def f(x):\n    return x + 1\n", "assert f(1) == 2\nassert f(2) == 4",
                            isolation=isolation)
    assert score.value == 0.5 and score.details["isolation"] == isolation


async def test_sandbox_that_cannot_start_is_unscored_sandbox_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sandbox, "_interpreter_candidates", lambda self: ["/nonexistent/python3"])  # the seam
    score = await score_one("def f():\n    return 1\n", "assert f() == 1")
    assert score.value is None and score.reason == UnscoredReason.SANDBOX_ERROR
    assert "/nonexistent/python3" in score.details["error"]
    async with Runtime() as rt:
        with pytest.raises(ConfigError, match="could not run any interpreter"):
            await CodeVerifier(CodeConfig(), rt).start()


async def test_broken_harness_report_is_sandbox_error_never_a_score(monkeypatch: pytest.MonkeyPatch) -> None:
    async def forged_report(stdin_w: int, report_r: int, payload: bytes) -> bytes:
        os.close(stdin_w)  # the run gets no payload and ends
        os.close(report_r)
        return b'{"complete": true, "nonce": "guess", "results": [{"passed": true}]}'

    sandbox = Sandbox()
    await sandbox.start()
    monkeypatch.setattr(sandbox_module, "_exchange", forged_report)  # the seam: the report channel
    try:
        with pytest.raises(sandbox_module.SandboxFailure, match="nonce"):
            await sandbox.run("def f():\n    return 1\n", parse_reference("assert f() == 1"), Limits())
    finally:
        await sandbox.aclose()


async def test_concurrent_runs_do_not_see_each_other() -> None:
    writer = Sample(completion="import os, time\ndef mark():\n    open('/tmp/mark', 'w').write('x')\n"
                    "    time.sleep(1.5)\n    return os.getpid()\n", reference="assert mark() > 1")
    reader = Sample(completion="import os, time\ndef look():\n    time.sleep(0.5)\n    return os.listdir('/tmp'), "
                    "os.getpid()\n", reference="files, pid = look()\nassert files == []\nassert pid > 1")
    scores = await score_many([writer, reader, reader])
    for score in scores:
        assert_all_passed(score)


async def test_fork_server_death_is_sandbox_error_and_the_next_run_recovers() -> None:
    sandbox = Sandbox()
    await sandbox.start()
    try:
        spec = parse_reference("assert slow() == 1")
        run = asyncio.create_task(sandbox.run("import time\ndef slow():\n    time.sleep(3)\n    return 1\n", spec,
                                              Limits()))
        await asyncio.sleep(0.5)
        forkserver = sandbox._forkserver
        assert forkserver is not None and forkserver._proc is not None
        forkserver._proc.kill()  # the seam: the fork server (bwrap and all in it) dies mid-run
        with pytest.raises(sandbox_module.SandboxFailure):
            await run
        report = await sandbox.run("def slow():\n    return 1\n", spec, Limits())
        assert report["results"][0]["passed"] is True
    finally:
        await sandbox.aclose()
