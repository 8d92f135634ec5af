"""Inside the sandbox, PID 1: the namespace the test code runs in.

The test code sees the candidate's top-level names, because it is meant to call some of them: the entry
point, the helpers and classes the candidate defines. But a name the tests use for *their own* computation
must not be the candidate's to choose, or a wrong answer passes: `def set(*a): return 1` beside a wrong
function passes `assert set(f(x)) == set(y)`, `abs = lambda x: 0.0` passes `abs(f(x) - y) < 1e-6`, and
`math.isclose = lambda *a, **k: True` passes `math.isclose(f(x), y)`. The candidate's process can patch
anything in itself; the harness is another process, so what matters is only which of the candidate's names
are put here, and as what:

- builtins: a candidate name that is a builtin's (`set`, `abs`, `len`, `sorted`, `range`, `isinstance`,
  whether defined, assigned, or bound by `from x import *`) is left out, so the tests get the harness's
  builtin. The builtins module itself is the harness's, which the candidate never touches (patching
  `builtins.abs` or `__builtins__` in the candidate changes only the candidate's process). Exception: the
  declared entry point (`metadata.entry_point`) is always the candidate's, whatever its name.
- modules: a candidate name bound to a module (`import math`, `import numpy as np`, `from os import path`)
  is bound here to the harness's own import of that module, never to the candidate's (whose attributes it
  may have patched, or which may be a fake put in `sys.modules`). So is a name that is a standard-library
  module's name bound to some other object (`math = FakeMath()`) when the tests use it without calling it.
  Either only when the tests use the name (an import costs time), and only standard-library modules that
  are safe to import (no `__main__`, nothing that runs code on import); otherwise the name is left out.
- helpers the prompt gives (HumanEval/32's `poly`, /38's `encode_cyclic`): the tests use them to check the
  answer, so they come from the prompt, executed here, not from the candidate, which may redefine them.
  The host names them (complete top-level functions of a prompt that is Python); see tests_spec.py.
- everything else (functions, classes, instances, constants) is the candidate's: plain data as values,
  the rest as handles (`Remote`), whose comparisons and truth the tests cannot use (see __init__.py).

Names hidden from the tests that the tests do use are reported (`hidden_names`), so a user whose tests
failed for it can see why.
"""

import builtins
import sys

if not __name__.startswith("__referee"):  # for readers and tools on the host; see __init__.py
    from .common import CandidateError
    from .remote import Link, Remote

_BUILTIN_NAMES = frozenset(name for name in builtins.__dict__ if not name.startswith("__"))
# Standard-library modules that run code when imported (a demo, a browser, a GUI, a test runner, .pth files).
_UNSAFE_TO_IMPORT = frozenset({"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "site",
                               "ensurepip", "venv", "lib2to3", "pydoc_data"})


def _harness_module(name):
    """The harness's own import of standard-library module `name`, or None."""
    if type(name) is not str or not 0 < len(name) <= 100:
        return None
    parts = name.split(".")
    if (parts[0] not in sys.stdlib_module_names or parts[0] in _UNSAFE_TO_IMPORT
            or not all(p.isidentifier() and not p.startswith("_") for p in parts)):
        return None
    try:
        __import__(name)
        return sys.modules[name]
    except BaseException:  # ImportError, or a module that fails here as it would in the candidate
        return None


def tests_namespace(link: "Link", names: dict, tests: dict, entry: str | None) -> tuple[dict, dict]:
    """The test code's globals, and the candidate's names hidden from it that it uses, with why."""
    used = frozenset(tests.get("used", ()))
    called = frozenset(tests.get("called", ()))
    ns: dict = {"__name__": "__referee_tests__", "__builtins__": builtins}
    hidden: dict = {}
    for name, raw in names.items():
        if name != entry:
            if name in _BUILTIN_NAMES:
                if name in used:
                    hidden[name] = "builtin"
                continue
            module_name = raw.get("M") if type(raw) is dict and len(raw) == 1 else None
            is_module = module_name is not None
            impostor = raw == {"N": 1} and name in sys.stdlib_module_names and name not in called
            if is_module or impostor:
                if name not in used:
                    continue
                real = (_harness_module(module_name) if is_module else None) or _harness_module(name)
                if real is not None:
                    ns[name] = real
                    if impostor:
                        hidden[name] = "module"
                    continue
                if is_module:  # a module the candidate made itself: its helper, as a handle
                    ns[name] = Remote(link, name, None)
                    continue
        if raw == {"N": 1} or (type(raw) is dict and "M" in raw):
            ns[name] = Remote(link, name, None)
            continue
        try:
            ns[name] = link.dec(raw)
        except (CandidateError, RecursionError, MemoryError, TypeError, ValueError):
            ns[name] = Remote(link, name, None)  # whatever the candidate sent: it cannot stop the run
    if entry:
        ns["candidate"] = ns.get(entry, Remote(link, entry, None))
    return ns, hidden


def add_given_helpers(ns: dict, prompt_ns: dict, given: list, entry: str | None) -> None:
    """Bind the helpers the prompt defines (executed in `prompt_ns`) over the candidate's names; a helper the
    prompt did not define (it failed to run) is taken away, not left to the candidate."""
    if entry and "candidate" in ns and prompt_ns:
        prompt_ns[entry] = ns["candidate"]  # a helper that calls the function under test calls the candidate's
    for name in given:
        if type(name) is not str:
            continue
        if name in prompt_ns:
            ns[name] = prompt_ns[name]
        else:
            ns.pop(name, None)
