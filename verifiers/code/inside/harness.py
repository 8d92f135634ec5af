"""Inside the sandbox, PID 1: the test runner. It runs the tests (rpc mode) or the cases (stdio mode) under
deadlines, and writes the one report (see __init__.py for the processes and what each may do)."""

import _json
import _signal
import builtins
import marshal
import posix
import select
import time

if not __name__.startswith("__referee"):  # for readers and tools on the host; see __init__.py
    from .candidate import _run_main, candidate_main
    from .common import (
        _G,
        MAX_ERROR,
        REPORT_OUTPUT_BUDGET,
        CandidateDied,
        CandidateError,
        TestTimeout,
        Unsupported,
        _become_child,
        _safe_str,
        _write_all,
        dumps,
        kill_all,
        limit_hit,
        limit_result,
        set_candidate_limits,
        set_shared_limits,
        signal_limit,
    )
    from .namespace import add_given_helpers, tests_namespace
    from .remote import Link


class Harness(Link):

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
                return self.load_failed(load["e"], "restarting the candidate failed", "crash")
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
            limit = signal_limit(self.runner.last_status)
            if limit:
                return limit_result(limit, self.limits, _safe_str(exc))
            return {"passed": False, "kind": "crash", "error": _safe_str(exc)}
        except BaseException as exc:
            name, message = type(exc).__name__, _safe_str(exc)
            limit = limit_hit(name, message)
            if limit:
                return limit_result(limit, self.limits, f"{name}: {message}")
            kind = "fail" if isinstance(exc, AssertionError) else "error"
            return {"passed": False, "kind": kind, "error": f"{name}: {message}"}
        return {"passed": True, "kind": "ok", "seconds": time.monotonic() - started}

    def load_failed(self, error: list, what: str, kind: str) -> dict:
        """The result for a test whose candidate did not load: the limit it hit, if one did."""
        parts = [x if type(x) is str else "?" for x in error[:2]]  # the candidate's process may send anything
        name, message = [*parts, "", ""][:2]
        limit = limit_hit(name, message) or (signal_limit(self.runner.last_status) if name == "CandidateDied"
                                             else None)
        text = f"{what}: {name}: {message}"[:MAX_ERROR]
        return limit_result(limit, self.limits, text) if limit else {"passed": False, "kind": kind, "error": text}

    def run_rpc(self, tests: dict, budget_end: float) -> dict:
        load = self.runner.wait_loaded(min(time.monotonic() + self.limits["timeout_s"], budget_end))
        items = tests["items"]
        if "e" in load:
            failed = self.load_failed(load["e"], "the candidate's code failed to load", "load_error")
            return {"load_error": failed["error"],
                    "results": [dict(failed) for item in items if item["kind"] != "setup"]}
        entry = self.params.get("entry_point")
        ns, hidden = tests_namespace(self, load["names"], tests, entry)
        out: dict = {}
        setup_errors: list = []
        given = tests.get("given")
        if given:  # the prompt's helpers, run here (see namespace.py)
            prompt_ns: dict = {"__name__": "__referee_prompt__", "__builtins__": builtins}
            try:
                code = compile(given["source"], "<prompt>", "exec")
                outcome = self.run_one(code, prompt_ns, budget_end)
            except (SyntaxError, ValueError) as exc:
                outcome = {"passed": False, "error": f"SyntaxError: {exc}"}
            if not outcome["passed"]:  # fail closed: the tests then miss the helpers, never get the candidate's
                prompt_ns = {}
                setup_errors.append({"line": 0, "error": "the prompt's helpers: " + str(outcome.get("error"))})
            add_given_helpers(ns, prompt_ns, given["names"], entry)
        results: list = []
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
                if (entry or "") not in load["names"]:
                    results.append({"passed": False, "kind": "fail",
                                    "error": f"the candidate does not define {entry!r}"})
                else:
                    results.append(self.run_one(ns["candidate"], ns, budget_end, call=source))
        out["results"] = results
        if setup_errors:
            out["setup_errors"] = setup_errors[:20]
        if hidden:
            out["hidden_names"] = dict(sorted(hidden.items())[:50])
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
        result = {"status": status, "stdout": stdout, "stderr": stderr_tail, "seconds": seconds}
        limit = None
        if status.startswith("signal"):
            limit = signal_limit(exit_code)
        elif status.startswith("exit"):  # the last line of stderr is what _run_main wrote for an exception
            name, _, message = stderr_tail.rstrip("\n").rpartition("\n")[2].partition(": ")
            limit = limit_hit(name, message)
        if limit:
            result.update(limit_result(limit, limits, f"{status}: {stderr_tail.strip()[-MAX_ERROR:]}"),
                          status="limit")
        return result

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
