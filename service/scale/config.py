"""Settings of the Ray Serve deployment (`referee serve --ray`): the `ray` section of `ServiceSettings`.

Plain pydantic, no Ray import: the single-process service reads and validates these too (and ignores them).

    ray:
      deployments:
        code:  {num_replicas: 4, ray_actor_options: {num_cpus: 1}, pool_workers: 1, chunk_size: 8}
        judge: {num_replicas: 1, ray_actor_options: {num_gpus: 1}, batch: {max_batch_size: 64}}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BatchSettings", "DeploymentSettings", "RaySettings"]


class BatchSettings(BaseModel):
    """Ray Serve's `@serve.batch` on a source's replicas: chunks of concurrent requests are scored together."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(64, ge=1, le=65536, description="Most samples scored in one call of the source.")
    batch_wait_timeout_s: float = Field(
        0.01, ge=0, le=10, description="How long a replica waits for more samples before scoring a partial batch.")


class DeploymentSettings(BaseModel):
    """One reward source's Ray Serve deployment: replicas, where they run, and how they batch."""

    model_config = ConfigDict(extra="forbid")

    num_replicas: int | Literal["auto"] = Field(
        1, description="Replicas of this source; 'auto' lets Ray Serve autoscale (see autoscaling_config).")
    ray_actor_options: dict[str, Any] = Field(
        default_factory=lambda: {"num_cpus": 1},
        description="Resources of each replica, e.g. {num_cpus: 1} for the sandbox, {num_gpus: 1} for a judge.")
    autoscaling_config: dict[str, Any] | None = Field(
        None, description="Ray Serve autoscaling (min_replicas, max_replicas, target_ongoing_requests, ...); "
        "used instead of num_replicas when set.")
    chunk_size: int = Field(
        64, ge=1, le=65536, description="Most samples sent to one replica in one call: a request's batch is split "
        "so that replicas share it. Small for slow items (the sandbox: 8), larger for fast ones (math: 64).")
    max_ongoing_requests: int = Field(
        8, ge=1, description="Chunks one replica works on at once; more wait in the caller's queue.")
    max_replicas_per_node: int | None = Field(
        None, ge=1, description="Spread replicas: at most this many on one node (null: no limit).")
    pool_workers: int | None = Field(
        None, ge=1, description="Worker processes of each replica's Runtime (math, parsing); null: the "
        "replica's num_cpus rounded up, else the service's pool_workers.")
    batch: BatchSettings | bool | None = Field(
        None, description="Batch concurrent requests with @serve.batch: true/settings to enable, false to "
        "disable; null follows the source's `batch_across_requests` attribute (model-backed sources opt in).")

    @model_validator(mode="after")
    def _one_way_to_count(self) -> DeploymentSettings:
        if self.autoscaling_config is not None and isinstance(self.num_replicas, int) \
                and "num_replicas" in self.model_fields_set:
            raise ValueError(f"give num_replicas ({self.num_replicas}) or autoscaling_config, not both: autoscaling "
                             "sets the count between its min_replicas and max_replicas")
        return self


class RaySettings(BaseModel):
    """How `referee serve --ray` lays the service out on a Ray cluster."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None, description="Ray cluster to join ('auto', 'ray://host:10001'); null: RAY_ADDRESS, else a new "
        "local Ray instance. `referee serve --ray ADDRESS` overrides it.")
    ingress_replicas: int = Field(
        1, ge=1, description="Replicas of the HTTP ingress (routes, auth, admission, audit); several need a "
        "postgresql:// audit_db, which they share.")
    ingress_actor_options: dict[str, Any] = Field(
        default_factory=lambda: {"num_cpus": 1}, description="Resources of each ingress replica.")
    proxy_location: Literal["HeadOnly", "EveryNode", "Disabled"] = Field(
        "HeadOnly", description="Where Ray Serve runs its HTTP proxy: the head node (one address), every node "
        "(put a load balancer in front), or nowhere (Python handles only).")
    retries: int = Field(
        2, ge=0, le=10, description="Times a chunk is sent again (to another replica) after the replica scoring "
        "it died; past that its samples are unscored worker_error.")
    deployments: dict[str, DeploymentSettings] = Field(
        default_factory=dict, description="Per source, by name; a source not named gets the defaults.")

    def deployment(self, name: str) -> DeploymentSettings:
        return self.deployments.get(name) or DeploymentSettings()
