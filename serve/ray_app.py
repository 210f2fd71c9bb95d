"""`dllm-serve --ray`: the same app as a Ray Serve application, on one machine or a cluster.

Each replica builds its own `create_app(settings)`: its own model, loaded by the app's lifespan, and
its own batcher, which batches the requests routed to that replica. A replica takes requests only
once its model has loaded (its first `check_health` waits for the load; a model that fails to load
fails the replica). Serve's proxy routes each request to a replica with few requests in flight; with
`max_replicas` the replica count follows the requests in flight per replica (`target_ongoing_requests`:
a full batch). One CPU per replica, or one GPU (device `cuda`, or no device named on a cluster with
GPUs). Every answer names its replica in the `x-dllm-replica` header. See docs/serving-cluster.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import time

from ray import serve

from dllm_complete.lsp_server import telemetry

from .app import Settings, create_app

APP = "dllm-serve"
REPLICA_HEADER = b"x-dllm-replica"


class Tagged:
    """ASGI middleware: every HTTP answer carries `x-dllm-replica: <this replica's id>`."""

    def __init__(self, app, name: str) -> None:
        self.app, self.name = app, name.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def tagged(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (REPLICA_HEADER, self.name)]}
            await send(message)
        return await self.app(scope, receive, tagged)


@serve.ingress()  # the app is built in the replica (`__serve_build_asgi_app__`), its lifespan run there
class Replica:
    def __init__(self, settings: Settings) -> None:
        telemetry.configure()  # JSON lines on stderr: Ray's log of this replica
        self.settings = settings
        self.name = serve.get_replica_context().replica_id.unique_id

    def __serve_build_asgi_app__(self):
        app = create_app(self.settings)
        app.add_middleware(Tagged, name=self.name)
        return app

    async def check_health(self) -> None:
        model = self.app.state.model  # `app`: Serve's wrapper's, the app built above
        while model.status == "loading":  # only the first check, before the replica takes requests
            await asyncio.sleep(0.1)
        if model.status == "error":
            raise RuntimeError(f"model failed: {model.error}")


def application(settings: Settings, replicas: int = 1, max_replicas: int | None = None, gpus: bool = False,
                cpus: int = 1):
    """The bound application: `replicas` at start, autoscaled up to `max_replicas` (None: fixed).
    gpus: one GPU per replica when `settings.device` names none; cpus: the cores each replica takes
    (Ray runs torch with that many threads in it)."""
    if max_replicas is not None and max_replicas < replicas:
        raise ValueError(f"--max-replicas ({max_replicas}) must be >= --replicas ({replicas})")
    gpu = settings.device.startswith("cuda") if settings.device else gpus
    if gpu and settings.device:  # Ray shows a replica only its own GPU: cuda:0
        settings = dataclasses.replace(settings, device="cuda")
    batch = settings.max_batch
    scaling = {"num_replicas": replicas} if max_replicas in (None, replicas) else {"autoscaling_config": {
        "min_replicas": replicas, "initial_replicas": replicas, "max_replicas": max_replicas,
        "target_ongoing_requests": batch}}
    # max_ongoing_requests counts requests: a full batch running and as many waiting
    return serve.deployment(Replica, name="dllm", max_ongoing_requests=2 * batch,
                            ray_actor_options={"num_cpus": cpus, **({"num_gpus": 1} if gpu else {})},
                            **scaling).bind(settings)


def failure() -> str:
    """Why the deployment failed, in one line (the last of its replicas' error)."""
    try:
        lines = serve.status().applications[APP].deployments["dllm"].message.strip().splitlines()
    except (KeyError, AttributeError):
        lines = []
    return lines[-1] if lines else "the deployment failed (see Ray's logs)"


def run(settings: Settings, host: str, port: int, replicas: int = 1, max_replicas: int | None = None,
        address: str | None = None, cpus: int = 1) -> None:
    """Deploy on the Ray cluster at `address` (None: start one here) behind http://host:port until
    SIGINT/SIGTERM; then delete the app (a cluster) or shut Ray down (ours)."""
    import ray

    # Serve's HAProxy ingress: measured 0.4 ms a request over the replica's own, against 6.6 ms through
    # Serve's Python proxy (docs/serving.md); a cluster's nodes need it in their environment too
    os.environ.setdefault("RAY_SERVE_ENABLE_HA_PROXY", "1")
    # a replica behind it stays reachable this long when it stops, for an outside load balancer to
    # deregister it (Ray's default 30 s: every Ctrl-C took 34 s); HAProxy here retries at once
    os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2")
    ray.init(address=address or "local")  # "local": a new instance, never one found by chance
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C: stop, also while deploying
    try:
        serve.start(http_options={"host": host, "port": port})
        gpus = settings.device is None and ray.cluster_resources().get("GPU", 0) > 0
        try:
            serve.run(application(settings, replicas, max_replicas, gpus, cpus), name=APP, route_prefix="/")
        except RuntimeError:  # a replica failed to start: its last line says why (model failed: ...)
            raise SystemExit(f"dllm-serve: {failure()}") from None
        print(f"dllm-serve: {replicas} replica(s) on Ray Serve at http://{host}:{port}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if address:
            serve.delete(APP)
        else:
            serve.shutdown()
        ray.shutdown()
