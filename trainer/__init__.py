"""GRPO/PPO training against any registered reward source, rewards fetched from the service over HTTP.

Importing this package is cheap: trl, datasets and vllm are imported only by the modules that train.
`referee.trainer.run` is the scaffold both training scripts share (output folder, saved run configuration,
reward service, callbacks, `main`).
"""

from .reward_fn import ServiceReward, as_text, reward_metrics, to_samples
from .run import TrainingError

__all__ = ["ServiceReward", "TrainingError", "as_text", "reward_metrics", "to_samples"]
