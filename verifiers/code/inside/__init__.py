"""Code that runs inside the sandbox. None of it is imported by referee: the host sends it.

The parts are split by the process they run in, and the host joins them, in `PARTS` order, into one module
and compiles that into one code object (`harness_source`). That object goes to the fork server (zygote.py,
which loads it once and calls `_harness_main` in each run's PID 1), and a candidate process restarted after
a crash is a new interpreter that gets the same object through `BOOTSTRAP` (run as `python -I -S -c`). So
every process of a run holds exactly the same trusted code, and a part may use any name an earlier part
defines; the `if not __name__.startswith("__referee")` imports at the top of each part only show those names
to readers and static tools on the host. The parts use the standard library's C modules only (no `json`,
`re`, `signal`, `enum`: each costs milliseconds per run).

- common.py: what every process uses: frames of JSON over pipes, rlimits, killing the run's processes.
- candidate.py: the candidate's process: it loads the candidate's code and answers requests (rpc mode), or
  runs it as a script with one case's stdin (stdio mode).
- remote.py: PID 1's side of the rpc protocol: starting the candidate process, and the values and handles
  that cross to it and back.
- namespace.py: what the test code sees: builtins, modules and prompt-given helpers of its own, and the
  candidate's names it is meant to call.
- harness.py: PID 1, the test runner: runs the tests under deadlines and writes the report.
- zygote.py: the fork server (not part of the harness; started once per `Sandbox`, see sandbox.py).

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
  process, where they decide nothing; and the names the tests resolve themselves (builtins, modules,
  helpers the prompt gives) are the harness's own (namespace.py).
- in "stdio" mode each case is a fresh process forked from the harness, which holds only the inputs: the
  expected outputs never enter the sandbox (the host compares).

The report is one JSON object written once, at the end, to a copy of the harness's original stdout that no
other process holds (fds 1 and 2 are /dev/null from the start, so a print in the test code cannot corrupt
it). It echoes the host's per-run nonce from the second frame, which the candidate never sees.
"""

from __future__ import annotations

from pathlib import Path

from .common import BOOTSTRAP

__all__ = ["BOOTSTRAP", "PARTS", "harness_source", "zygote_source"]

PARTS = ("common", "candidate", "remote", "namespace", "harness")


def harness_source() -> str:
    """The harness as one module: the parts in order."""
    here = Path(__file__).parent
    return "\n\n".join((here / f"{part}.py").read_text(encoding="utf-8") for part in PARTS)


def zygote_source() -> str:
    return (Path(__file__).parent / "zygote.py").read_text(encoding="utf-8")
