"""PPO with a value head, GAE and a KL penalty, against a reward source of the referee service, top to bottom.

    referee train --algo ppo --source math --dataset arithmetic --max_steps 2 --output_dir runs/ppo-demo
    referee train --algo ppo --config cfg.yaml          # or: python -m referee.trainer.ppo --config cfg.yaml
    referee train --output_dir runs/ppo-demo --resume true   # the same run, after a crash (kill -9)

Flags: `referee train --algo ppo --help` (`RefereeArgs` as for GRPO, `PPOConfig`, TRL's `ModelConfig`;
`referee.trainer.ppo_config` explains the defaults). The algorithm is PPO (Schulman et al. 2017) as RLHF
uses it (Ziegler et al. 2019; Stiennon et al. 2020; Ouyang et al. 2022), in their notation. One step:

1. Rollouts: B prompts x from the data; one completion y ~ π_θold(· | x) each (transformers `generate`, or
   vLLM with `--use_vllm`), sampled at `--temperature` with no top-k/top-p, so the behaviour policy is π_θold.
2. Scores: R(x, y) from the reward service (`RewardClient`: any source or weighted mix), one call per
   step. An unscored rollout (the service could not score it) is dropped from the step, never trained on as 0;
   a run whose every rollout stays unscored for `--max_unscored_steps` steps stops, naming the reason.
3. Old log-probs, values and reference log-probs, without gradients: log π_θold(y_t | s_t), V(s_t) (the value
   head on the same trunk, `value_head.py`), log π_ref(y_t | s_t) (the frozen starting policy).
4. Per-token rewards (`kl.py`): r_t = −β (log π_θold − log π_ref)(y_t | s_t), plus R(x, y) on the last token.
5. Advantages (`gae.py`): GAE(γ, λ), Â_t = Σ_l (γλ)^l δ_{t+l} with δ_t = r_t + γ V(s_{t+1}) − V(s_t);
   returns Ĝ_t = Â_t + V(s_t); Â whitened over the batch.
6. Updates: `ppo_epochs` passes over the batch in `num_mini_batches` minibatches, each minimising
       L = L^CLIP + c_V L^V − c_H H[π_θ]
       L^CLIP = E_t[max(−Â_t ρ_t, −Â_t clip(ρ_t, 1 − ε, 1 + ε))],   ρ_t = π_θ(y_t | s_t) / π_θold(y_t | s_t)
       L^V    = ½ E_t[max((V_θ(s_t) − Ĝ_t)², (V_old(s_t) + clip(V_θ(s_t) − V_old(s_t), ±ε_V) − Ĝ_t)²)]
7. β adapts towards `--target_kl` if one is set (Ziegler et al.); else it stays fixed.

Around the loop, the scaffold GRPO uses too (`run.py`): the output folder rules and the saved run
configuration (`--resume`), the local service when no `--service_url` is given and one retry policy, the
callbacks (step-time split, JSONL + TensorBoard metrics, held-out evaluation, progress bar); and the data and
held-out set (`data.py`).
A checkpoint holds the policy (a plain causal LM), `value_head.safetensors`, the optimiser and scheduler,
`ppo_state.json` (β, the reference model) and, written last, `trainer_state.json`. Every step reseeds from
(seed, step), so a resumed run samples what the uninterrupted run would have.

Metrics beyond GRPO's: `ppo/value_loss`, `ppo/explained_variance`, `ppo/approx_kl` (between π_θ and
π_θold over the updates), `ppo/clip_fraction` (tokens whose ratio left [1 − ε, 1 + ε]), `ppo/value_clip_fraction`,
`ppo/policy_loss`, `ppo/beta`, `ppo/kl_per_episode` and `ppo/non_score_reward` (−β · KL, per episode).

One process, one device (CPU or one GPU); vLLM may use its own GPU in server mode.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import statistics
import sys
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referee.verifiers import ConfigError

from .config import RefereeArgs
from .ppo_config import PPOConfig
from .run import (
    COMPLETIONS_FILE,
    UnscoredWatch,
    heldout_scorer,
    main,
    prepare_output_dir,
    resolve_model,
    reward_client,
    run_hooks,
    samples_of,
    service_lost,
    start_reward_service,
)

if TYPE_CHECKING:
    import torch
    from transformers import TrainerCallback
    from trl import ModelConfig

    from .value_head import PolicyWithValueHead

__all__ = ["PPO_STATE_FILE", "train"]

PPO_STATE_FILE = "ppo_state.json"


# --- 1. Rollouts -------------------------------------------------------------------------------------------------

def step_rows(n_rows: int, batch: int, seed: int, step: int) -> list[int]:
    """Dataset rows of step `step` (0-based): consecutive slices of a fresh permutation per pass over the data."""
    import torch

    out: list[int] = []
    start = step * batch
    while len(out) < batch:
        epoch, offset = divmod(start + len(out), n_rows)
        order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed * 7919 + epoch)).tolist()
        out.extend(order[offset : offset + batch - len(out)])
    return out


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The prompt's token ids: the chat template with the assistant turn opened."""
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False))


def generate_hf(policy: Any, prompt_ids: list[list[int]], cfg: PPOConfig, pad_id: int,
                eos_id: int) -> list[list[int]]:
    """Completions sampled from π_θ with transformers (temperature only: no top-k or top-p truncation)."""
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=True, temperature=cfg.temperature, top_k=0, top_p=1.0,
                              max_new_tokens=cfg.max_completion_length, pad_token_id=pad_id, eos_token_id=eos_id)
    input_ids, attention_mask, _ = episode_tensors(prompt_ids, [[] for _ in prompt_ids], pad_id)
    was_training = policy.training
    policy.eval()
    try:
        with torch.no_grad():
            out = policy.generate(input_ids=input_ids.to(policy.device),
                                  attention_mask=attention_mask.to(policy.device), generation_config=config)
    finally:
        policy.train(was_training)
    return [cut_at_eos(ids, eos_id) for ids in out[:, input_ids.shape[1]:].tolist()]


def push_weights(vllm: Any) -> None:
    """Copies π_θ's current weights into vLLM (TRL's `VLLMGeneration`), so the next rollouts sample from it."""
    from .instrumented import _reload_in_place, _vllm_reloads_in_place

    # vLLM >= 0.32 repacks its layers after loading (on CPU, for oneDNN), which breaks TRL's tensor-by-tensor
    # sync; it reloads weights in place instead (the same fix as for GRPO, in `instrumented.py`).
    if vllm.mode == "colocate" and _vllm_reloads_in_place():
        _reload_in_place(vllm)
    else:
        vllm.sync_weights()


def cut_at_eos(ids: list[int], eos_id: int) -> list[int]:
    """The completion up to and including its first end-of-sequence token (what follows is padding)."""
    return ids[: ids.index(eos_id) + 1] if eos_id in ids else list(ids)


def episode_tensors(prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]],
                    pad_id: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """input_ids and attention_mask (B, P + T): each prompt left-padded to P, its completion right-padded to T."""
    import torch

    width_p = max(len(p) for p in prompt_ids)
    width_c = max((len(c) for c in completion_ids), default=0)
    input_ids = torch.full((len(prompt_ids), width_p + width_c), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids, strict=True)):
        input_ids[i, width_p - len(p) : width_p + len(c)] = torch.tensor([*p, *c], dtype=torch.long)
        attention_mask[i, width_p - len(p) : width_p + len(c)] = 1
    return input_ids, attention_mask, width_p


# --- 3. Log-probabilities and values -----------------------------------------------------------------------------

def position_ids_for(attention_mask: torch.Tensor) -> torch.Tensor:
    # What `generate` uses for left-padded prompts: positions count real tokens only.
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def policy_forward(model: PolicyWithValueHead, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   prompt_len: int, temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (B, T, V), log π_θ(y_t | s_t) (B, T) and V(s_t) (B, T) for the completion tokens y_1..y_T.

    The token at position P + t is predicted from position P + t − 1, and V(s_t) is read at that position too:
    the state before the action.
    """
    from trl.trainer.utils import selective_log_softmax

    width = input_ids.shape[1] - prompt_len
    logits, values = model(input_ids, attention_mask, position_ids_for(attention_mask), logits_to_keep=width + 1)
    logits = logits[:, :-1] / temperature
    logprobs = selective_log_softmax(logits, input_ids[:, prompt_len:])
    return logits, logprobs, values[:, prompt_len - 1 : -1]


def reference_logprobs(reference: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_len: int,
                       temperature: float) -> torch.Tensor:
    """log π_ref(y_t | s_t) (B, T) under the frozen reference model."""
    from trl.trainer.utils import selective_log_softmax

    width = input_ids.shape[1] - prompt_len
    logits = reference(input_ids=input_ids, attention_mask=attention_mask,
                       position_ids=position_ids_for(attention_mask), logits_to_keep=width + 1, use_cache=False).logits
    return selective_log_softmax(logits[:, :-1] / temperature, input_ids[:, prompt_len:])


@dataclass
class Batch:
    """One step's episodes, everything the updates need (all (B, T) but `scores`)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    prompt_len: int
    mask: torch.Tensor  # real completion tokens
    scores: torch.Tensor  # R(x, y), (B,)
    logprobs: torch.Tensor  # log π_θold(y_t | s_t)
    values: torch.Tensor  # V_old(s_t)
    advantages: torch.Tensor
    returns: torch.Tensor


# --- 6. The clipped surrogate objective and the clipped value loss ----------------------------------------------

def ppo_losses(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, values: torch.Tensor,
               old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cfg: PPOConfig
               ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(L^CLIP, L^V, statistics) over the real tokens of a minibatch."""
    import torch

    from .gae import masked_mean

    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    pg_losses = torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - cfg.epsilon, 1 + cfg.epsilon))
    policy_loss = masked_mean(pg_losses, mask)
    values_clipped = old_values + torch.clamp(values - old_values, -cfg.epsilon_value, cfg.epsilon_value)
    value_loss = 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (values_clipped - returns) ** 2), mask)
    with torch.no_grad():
        stats = {
            # k3 estimator of KL(π_θold ‖ π_θ): unbiased and never negative (Schulman, "Approximating KL").
            "approx_kl": masked_mean((ratio - 1) - log_ratio, mask),
            "clip_fraction": masked_mean(((ratio - 1).abs() > cfg.epsilon).float(), mask),
            "value_clip_fraction": masked_mean(((values - old_values).abs() > cfg.epsilon_value).float(), mask),
        }
    return policy_loss, value_loss, stats


# --- Checkpoints -------------------------------------------------------------------------------------------------

def save_checkpoint(out: Path, model: PolicyWithValueHead, tokenizer: Any, optimizer: Any, scheduler: Any,
                    state: Any, beta: float, reference: str, keep: int | None) -> Path:
    """`checkpoint-<step>`: everything to resume; `trainer_state.json` goes last and marks it complete."""
    import torch

    folder = out / f"checkpoint-{state.global_step}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    model.policy.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model.save_value_head(folder)
    torch.save(optimizer.state_dict(), folder / "optimizer.pt")
    torch.save(scheduler.state_dict(), folder / "scheduler.pt")
    (folder / PPO_STATE_FILE).write_text(json.dumps({"beta": beta, "reference": reference}))
    state.save_to_json(str(folder / "trainer_state.json"))
    if keep:
        steps = sorted(int(p.name.split("-")[-1]) for p in out.glob("checkpoint-*") if p.name.split("-")[-1].isdigit())
        for old in steps[:-keep]:
            shutil.rmtree(out / f"checkpoint-{old}", ignore_errors=True)
    return folder


# --- The run -----------------------------------------------------------------------------------------------------

def train(args: RefereeArgs, cfg: PPOConfig, model_args: ModelConfig,
          callbacks: Sequence[TrainerCallback] = ()) -> Path:
    """Runs PPO as configured; returns the output folder (final policy and value head, metrics, checkpoints)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_scheduler
    from transformers.trainer_callback import CallbackHandler, DefaultFlowCallback, TrainerControl, TrainerState
    from trl.trainer.utils import entropy_from_logits

    from referee.service.client import RewardServiceError

    from .data import load_prompts
    from .gae import explained_variance, gae, masked_mean, masked_whiten
    from .kl import KLController, kl_shaped_rewards
    from .reward_fn import as_text, reward_metrics
    from .value_head import PolicyWithValueHead

    if args.algo != "ppo":
        raise ConfigError(f"this is the PPO trainer, but algo is {args.algo!r}; use `referee train --algo {args.algo}`")
    if model_args.use_peft:
        raise ConfigError("PPO trains the full model; --use_peft (LoRA) is offered for GRPO only so far")
    out, resume_from = prepare_output_dir(args, cfg.output_dir, cfg.max_steps)
    device = torch.device("cuda" if torch.cuda.is_available() and not cfg.use_cpu else "cpu")
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cfg.bf16 and device.type == "cuda"
                else nullcontext())

    # The policy π_θ with its value head, and the frozen reference π_ref: the starting policy, also on resume.
    saved = json.loads((resume_from / PPO_STATE_FILE).read_text()) if resume_from else {}
    reference_path = saved.get("reference") or resolve_model(model_args.model_name_or_path, args.model_cache_dir)
    dtype = model_args.dtype if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype)
    load = {"dtype": dtype, "attn_implementation": model_args.attn_implementation}
    policy: Any = AutoModelForCausalLM.from_pretrained(str(resume_from or reference_path), **load)
    policy = policy.to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(resume_from or reference_path))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos_id = tokenizer.eos_token_id
    if cfg.gradient_checkpointing:
        policy.gradient_checkpointing_enable()
    model = PolicyWithValueHead(policy)
    if resume_from:
        model.load_value_head(resume_from)
    model.train()
    reference: Any = None
    if cfg.beta > 0:  # with β = 0 the penalty is zero: no reference forward pass, no second copy in memory
        if resume_from:
            reference = AutoModelForCausalLM.from_pretrained(reference_path, **load)
            reference = reference.to(device)
        else:
            reference = copy.deepcopy(policy)
        reference.eval().requires_grad_(False)
    kl_ctl = KLController(saved.get("beta", cfg.beta), cfg.target_kl, cfg.kl_horizon)

    # The optimiser: AdamW over policy and value head; the schedule counts optimiser updates.
    total_updates = cfg.max_steps * cfg.updates_per_step
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2),
                                  eps=cfg.adam_epsilon, weight_decay=cfg.weight_decay)
    scheduler_kwargs = cfg.lr_scheduler_kwargs if isinstance(cfg.lr_scheduler_kwargs, dict) else None
    scheduler = get_scheduler(cfg.lr_scheduler_type, optimizer, num_warmup_steps=cfg.get_warmup_steps(total_updates),
                              num_training_steps=total_updates, scheduler_specific_kwargs=scheduler_kwargs)
    if resume_from:
        optimizer.load_state_dict(torch.load(resume_from / "optimizer.pt", map_location=device))
        scheduler.load_state_dict(torch.load(resume_from / "scheduler.pt"))

    # The data: prompts with chat template applied, tokenised once.
    train_dataset, heldout_rows = load_prompts(args, seed=cfg.seed)
    rows = train_dataset.to_list()
    prompt_ids = [chat_prompt_ids(tokenizer, r["prompt"]) for r in rows]

    vllm = None
    if cfg.use_vllm:
        from accelerate import Accelerator
        from trl.generation.vllm_generation import VLLMGeneration

        vllm = VLLMGeneration(policy, Accelerator(cpu=device.type == "cpu"), tokenizer, mode=cfg.vllm_mode,
                              server_base_url=cfg.vllm_server_base_url,
                              gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                              max_model_length=cfg.vllm_max_model_length, temperature=cfg.temperature,
                              top_p=1.0, top_k=0, max_completion_length=cfg.max_completion_length)
        push_weights(vllm)

    state = (TrainerState.load_from_json(str(resume_from / "trainer_state.json")) if resume_from
             else TrainerState())
    state.max_steps = cfg.max_steps
    state.compute_steps(cfg, cfg.max_steps)
    control = TrainerControl()

    with ExitStack() as stack:
        # 2. The reward service: the one given, or one started here for the run; one client for the whole run.
        url = start_reward_service(stack, args, out)
        client = stack.enter_context(reward_client(url, args))
        source, options = args.reward_spec()
        name = source if isinstance(source, str) else "mix"  # what the metrics are logged under, as GRPO's
        watch = UnscoredWatch(args)

        hooks = run_hooks(args, out, heldout_rows, heldout_scorer(client, args),
                          max_new_tokens=cfg.max_completion_length, progress=not cfg.disable_tqdm, extra=callbacks)
        clock = hooks.clock
        handler = CallbackHandler([DefaultFlowCallback(), *hooks.callbacks], policy, tokenizer, optimizer, scheduler)
        stack.callback(hooks.writer.close)

        def checkpoint() -> Path:
            return save_checkpoint(out, model, tokenizer, optimizer, scheduler, state, kl_ctl.value, reference_path,
                                   cfg.save_total_limit)

        try:
            control = handler.on_train_begin(cfg, state, control)
            while state.global_step < cfg.max_steps and not control.should_training_stop:
                step = state.global_step
                torch.manual_seed(cfg.seed * 1_000_003 + step)
                control = handler.on_step_begin(cfg, state, control)
                logs: dict[str, float] = {}

                # 1. Rollouts.
                picked = step_rows(len(rows), cfg.per_device_train_batch_size, cfg.seed, step)
                batch_rows = [rows[i] for i in picked]
                queries = [prompt_ids[i] for i in picked]
                sampler_logprobs: list[list[float]] | None = None
                with clock.measure("generation"):
                    if vllm is not None:
                        _, completion_ids, vllm_logprobs, _ = vllm.generate(queries, None, num_generations=1)
                        responses = [cut_at_eos(list(c), eos_id) for c in completion_ids]
                        if vllm_logprobs is not None:
                            sampler_logprobs = [[float(t[0]) for t in lp[: len(r)]]
                                                for lp, r in zip(vllm_logprobs, responses, strict=True)]
                    else:
                        responses = generate_hf(policy, queries, cfg, pad_id, eos_id)
                lengths = [len(r) for r in responses]
                clock.count_tokens(sum(lengths))
                texts = tokenizer.batch_decode(responses, skip_special_tokens=True)

                # 2. Scores R(x, y); unscored rollouts leave the step.
                samples = samples_of(batch_rows, texts)
                with clock.measure("reward"):
                    step_scores = client.score(source, samples, options)
                with open(out / COMPLETIONS_FILE, "a") as f:
                    for r, text, s in zip(batch_rows, texts, step_scores, strict=True):
                        f.write(json.dumps({"step": step + 1, "prompt": as_text(r["prompt"][-1]), "completion": text,
                                            "reference": r["reference"], "reward": s.value,
                                            "reason": None if s.reason is None else s.reason.value}) + "\n")
                watch.observe(step_scores)
                logs.update(reward_metrics(name, samples, step_scores))
                keep = [i for i, s in enumerate(step_scores) if s.value is not None]
                scored = [float(s.value) for s in step_scores if s.value is not None]
                logs.update({
                    "reward": statistics.fmean(scored) if scored else math.nan,
                    "reward_std": statistics.pstdev(scored) if scored else math.nan,
                    f"rewards/{name}/mean": statistics.fmean(scored) if scored else math.nan,
                    f"rewards/{name}/std": statistics.pstdev(scored) if scored else math.nan,
                    "completions/mean_length": statistics.fmean(lengths),
                    "completions/std_length": statistics.pstdev(lengths),
                    "completions/min_length": min(lengths),
                    "completions/max_length": max(lengths),
                    "completions/clipped_ratio": sum(1 for r in responses if eos_id not in r) / len(responses),
                    "ppo/beta": kl_ctl.value,
                })

                if keep:
                    input_ids, attention_mask, prompt_len = episode_tensors(
                        [queries[i] for i in keep], [responses[i] for i in keep], pad_id)
                    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
                    mask = attention_mask[:, prompt_len:].bool()
                    scores = torch.tensor(scored, device=device)
                    micro = cfg.per_device_train_batch_size // (cfg.num_mini_batches * cfg.gradient_accumulation_steps)

                    # 3. log π_θold, V_old, log π_ref and the entropy, in micro-batches, without gradients.
                    old_logprobs, old_values, ref_logprobs, entropies = [], [], [], []
                    with torch.no_grad(), autocast:
                        for part in torch.arange(len(keep)).split(micro):
                            ids, am = input_ids[part], attention_mask[part]
                            logits, lp, v = policy_forward(model, ids, am, prompt_len, cfg.temperature)
                            old_logprobs.append(lp)
                            old_values.append(v.float())
                            entropies.append(entropy_from_logits(logits))
                            ref_logprobs.append(reference_logprobs(reference, ids, am, prompt_len, cfg.temperature)
                                                if reference is not None else lp)
                    logprobs, old_v = torch.cat(old_logprobs), torch.cat(old_values)
                    ref_lp = torch.cat(ref_logprobs)

                    # 4. The KL-shaped per-token reward, 5. GAE advantages and returns.
                    rewards, kl = kl_shaped_rewards(scores, logprobs, ref_lp, mask, beta=kl_ctl.value)
                    advantages, returns = gae(rewards, old_v, mask, gamma=cfg.gamma, lam=cfg.lam)
                    batch = Batch(input_ids, attention_mask, prompt_len, mask, scores, logprobs, old_v,
                                  masked_whiten(advantages, mask), returns)
                    kl_per_episode = kl.sum(dim=1)
                    log_ratio_ref = ref_lp - logprobs
                    logs.update({
                        # k3 per token, as GRPO logs it, so the two runs' `kl` read alike.
                        "kl": float(masked_mean(torch.exp(log_ratio_ref) - log_ratio_ref - 1, mask)),
                        "ppo/kl_per_episode": float(kl_per_episode.mean()),
                        "ppo/non_score_reward": float(-kl_ctl.value * kl_per_episode.mean()),
                        "entropy": float(masked_mean(torch.cat(entropies), mask)),
                        "ppo/explained_variance": explained_variance(old_v, returns, mask),
                        "ppo/value_mean": float(masked_mean(old_v, mask)),
                        "ppo/return_mean": float(masked_mean(returns, mask)),
                    })
                    if sampler_logprobs is not None:
                        # How far the sampler's log-probs are from π_θold's: near 0 when vLLM has the current weights.
                        sampled = torch.zeros_like(logprobs)
                        for row, i in enumerate(keep):
                            sampled[row, : len(sampler_logprobs[i])] = torch.tensor(sampler_logprobs[i])
                        gap = (sampled - logprobs).abs()
                        logs["ppo/sampler_logprob_gap"] = float(masked_mean(gap, mask))

                    # 6. K epochs of minibatch updates on the clipped objective.
                    stats: dict[str, list[float]] = {}
                    order_gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
                    size = len(keep)
                    mini = max(1, math.ceil(size / cfg.num_mini_batches))
                    for _ in range(cfg.ppo_epochs):
                        for minibatch in torch.randperm(size, generator=order_gen).split(mini):
                            optimizer.zero_grad(set_to_none=True)
                            parts = minibatch.split(max(1, math.ceil(len(minibatch) / cfg.gradient_accumulation_steps)))
                            for part in parts:
                                with autocast:
                                    logits, new_lp, new_v = policy_forward(
                                        model, batch.input_ids[part], batch.attention_mask[part], prompt_len,
                                        cfg.temperature)
                                m = batch.mask[part]
                                policy_loss, value_loss, part_stats = ppo_losses(
                                    new_lp.float(), batch.logprobs[part], batch.advantages[part], new_v.float(),
                                    batch.values[part], batch.returns[part], m, cfg)
                                loss = policy_loss + cfg.vf_coef * value_loss
                                if cfg.ent_coef > 0:
                                    entropy = masked_mean(entropy_from_logits(logits.float()), m)
                                    loss = loss - cfg.ent_coef * entropy
                                (loss / len(parts)).backward()
                                for key, value in {"policy_loss": policy_loss, "value_loss": value_loss, "loss": loss,
                                                   **part_stats}.items():
                                    stats.setdefault(key, []).append(float(value.detach()))
                            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                            stats.setdefault("grad_norm", []).append(float(grad_norm))
                            optimizer.step()
                            scheduler.step()
                    logs.update({("ppo/" if k not in ("loss", "grad_norm") else "") + k: statistics.fmean(v)
                                 for k, v in stats.items()})
                    if vllm is not None:
                        push_weights(vllm)

                    # 7. The adaptive KL coefficient (a no-op without --target_kl).
                    kl_ctl.update(float(kl_per_episode.mean()), len(keep))
                logs["learning_rate"] = scheduler.get_last_lr()[0]

                state.global_step += 1
                control = handler.on_step_end(cfg, state, control)
                if control.should_log:
                    state.log_history.append({**logs, "step": state.global_step})
                    control = handler.on_log(cfg, state, control, logs)
                    control.should_log = False
                if control.should_save:
                    checkpoint()
                    control = handler.on_save(cfg, state, control)
                    control.should_save = False
            handler.on_train_end(cfg, state, control)
        except RewardServiceError as exc:
            raise service_lost(exc, state.global_step, checkpoint()) from exc

    policy.save_pretrained(out)
    tokenizer.save_pretrained(out)
    model.save_value_head(out)
    return out


if __name__ == "__main__":
    sys.exit(main(algo="ppo"))
