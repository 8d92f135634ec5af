"""The reward service dies and comes back during a GRPO run: the trainer waits (up to its service
deadline), retries, and finishes with every step trained, none lost or repeated."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from referee.service.local import LocalService, free_port
from tests.trainer.test_grpo import _argv, _run_cli, _train_records

pytestmark = pytest.mark.slow


def test_service_restart_mid_run_loses_no_step(tiny_model: Path, tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "run"
    first = LocalService(port=port).start()
    log = open(tmp_path / "train.log", "wb")
    args = _argv(tiny_model, out, first.url, "--max_steps", "6", "--save_steps", "100", "--heldout_steps", "0",
                 "--service_deadline", "180")
    proc = _run_cli(args, stdout=log, stderr=log)
    second: LocalService | None = None
    try:
        deadline = time.monotonic() + 300
        while (not (out / "metrics.jsonl").exists() or len(_train_records(out)) < 2) and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "train.log").read_text()[-3000:]
            time.sleep(0.2)
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGKILL)  # the service vanishes mid-run
        done_at_kill = len(_train_records(out))
        assert proc.poll() is None and done_at_kill < 6, "the run ended before the outage: nothing was tested"
        first.process.wait()
        first.stop()
        time.sleep(3)  # the trainer's next reward call finds nothing listening
        second = LocalService(port=port).start()
        assert proc.wait(timeout=600) == 0, (tmp_path / "train.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        if second is not None:
            second.stop()
    assert [r["step"] for r in _train_records(out)] == [1, 2, 3, 4, 5, 6]
