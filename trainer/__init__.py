"""GRPO/PPO training against any registered reward source, rewards fetched from the service over HTTP.

Importing this package is cheap: trl, datasets and vllm are imported only by the modules that train.
"""

__all__: list[str] = []
