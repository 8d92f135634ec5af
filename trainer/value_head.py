"""The critic for PPO: a scalar value head on the policy's last hidden state.

    model = PolicyWithValueHead(AutoModelForCausalLM.from_pretrained(path))
    logits, values = model(input_ids, attention_mask, position_ids, logits_to_keep=k)
    model.save_value_head(folder)          # value_head.safetensors beside the policy's own files

Policy and critic share the transformer (as in TRL's former `AutoModelForCausalLMWithValueHead` and
Ziegler et al. 2019's value head): one forward pass gives both, which halves the cost of a step on a CPU.
The value loss reaches the shared layers scaled by `vf_coef`. The head starts at zero, so V(s) = 0 before
the first update and the first advantages are the whitened rewards.

The policy is an ordinary causal LM and is saved as one (`save_pretrained`), so a trained PPO policy
loads, serves and evaluates like any other model; the head lives in its own file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["VALUE_HEAD_FILE", "PolicyWithValueHead"]

VALUE_HEAD_FILE = "value_head.safetensors"


class PolicyWithValueHead(nn.Module):
    """A causal LM π_θ and a linear value head V_φ over its last hidden state."""

    def __init__(self, policy: Any) -> None:
        super().__init__()
        self.policy = policy
        hidden = policy.config.get_text_config().hidden_size
        self.value_head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)
        self.value_head.to(device=policy.device, dtype=policy.dtype)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                logits_to_keep: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the last `logits_to_keep` positions (0: all) and the value at every position, (B, T)."""
        out = self.policy(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                          logits_to_keep=logits_to_keep, output_hidden_states=True, use_cache=False)
        values = self.value_head(out.hidden_states[-1]).squeeze(-1)
        return out.logits, values

    def save_value_head(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous().cpu() for k, v in self.value_head.state_dict().items()},
                  str(Path(folder) / VALUE_HEAD_FILE))

    def load_value_head(self, folder: str | Path) -> None:
        from safetensors.torch import load_file

        state = load_file(str(Path(folder) / VALUE_HEAD_FILE), device=str(self.policy.device))
        self.value_head.load_state_dict(state)
