"""referee: a reward service for RL post-training.

The packages map onto the repository's top-level folders: `referee.verifiers` (the reward contract and
verifiable checkers), `referee.judges` (constitutions and LLM judges), `referee.service` (the HTTP edge),
`referee.trainer` (GRPO/PPO on TRL). Layers point one way: verifiers <- judges <- service <- trainer.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
