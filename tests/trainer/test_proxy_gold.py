"""The trainer's proxy-versus-gold monitor, driven through the callback order a run uses (held-out evaluation,
monitor, metrics writer), on a curve with Gao et al.'s shape: the gold rises, peaks and falls while the proxy
keeps rising."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from referee.trainer.metrics import MetricsWriter, read_metrics
from referee.trainer.proxy_gold import ProxyGoldMonitor


def test_the_flag_rises_when_the_gold_falls_past_the_noise_while_the_proxy_rises(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args, control = TrainingArguments(output_dir=str(tmp_path), report_to="none"), TrainerControl()
    writer = MetricsWriter(tmp_path)
    monitor = ProxyGoldMonitor(writer, heldout_size=64)
    state = TrainerState()
    writer.write(0, {"heldout/accuracy": 0.20})  # the evaluation before training
    monitor.on_train_begin(args, state, control)
    proxy = [0.1 * step for step in range(1, 21)]  # rises all along
    gold = {5: 0.30, 10: 0.45, 15: 0.42, 20: 0.25}  # peaks at step 10; 0.42 is within the noise, 0.25 is not
    for step in range(1, 21):
        state.global_step = step
        if step in gold:
            writer.add({"heldout/accuracy": gold[step]})  # what HeldOutEval.on_step_end does
        logs = {"reward": proxy[step - 1]}
        monitor.on_log(args, state, control, logs=logs)
        writer.on_log(args, state, control, logs=logs)
    writer.close()
    flags = {r["step"]: r["monitor/proxy_up_gold_down"] for r in read_metrics(tmp_path)
             if "monitor/proxy_up_gold_down" in r}
    assert flags == {5: 0.0, 10: 0.0, 15: 0.0, 20: 1.0}
    last = read_metrics(tmp_path)[-1]
    assert last["monitor/gold_drop"] == pytest.approx(0.20)
    assert last["monitor/proxy"] == pytest.approx(sum(proxy[15:20]) / 5)
    assert last["monitor/proxy_gain"] == pytest.approx(sum(proxy[15:20]) / 5 - sum(proxy[5:10]) / 5)
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "peaked at step 10 (0.450)" in err and "fallen to 0.250" in err
