"""The HTTP edge: a FastAPI app that scores batches with any registered source, and its client."""

from .app import create_app
from .client import AsyncRewardClient, RewardClient, RewardServiceError
from .settings import ServiceSettings, load_settings

__all__ = [
    "AsyncRewardClient",
    "RewardClient",
    "RewardServiceError",
    "ServiceSettings",
    "create_app",
    "load_settings",
]
