"""Scale out on Ray: the service's HTTP app as a Ray Serve ingress, each reward source its own deployment.

    referee serve --ray [ADDRESS] --settings docs/examples/ray_settings.yaml

The ingress is the app `referee serve` runs (same routes, auth, admission, audit log, metrics); it reaches
sources through `RaySources`, whose sources are thin proxies calling each source's deployment through a
`DeploymentHandle` (proxy.py). Each replica of a source builds it from the operator's settings and owns its
own Runtime: worker pool, sandbox, models (replica.py). docs/scale.md explains the layout and its sizing.

Ray is an optional extra (`pip install 'referee[ray]'`); this package imports it only inside the functions
and modules that run on Ray, so the single-process service never needs it.
"""

from .config import BatchSettings, DeploymentSettings, RaySettings
from .launch import APP_NAME, app_builder, build_app, serve_on_ray

__all__ = ["APP_NAME", "BatchSettings", "DeploymentSettings", "RaySettings", "app_builder", "build_app",
           "serve_on_ray"]
