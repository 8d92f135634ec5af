"""GRPO/PPO training against any registered reward source, rewards fetched from the service over HTTP.

Importing this package is cheap: trl, datasets and vllm are imported only by the modules that train.
"""

from .reward_fn import ServiceReward, as_text

__all__ = ["ServiceReward", "as_text"]
