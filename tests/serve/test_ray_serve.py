"""dllm-serve on Ray Serve, on this machine: `dllm-serve --ray` as one command (up, a completion,
down on SIGTERM), and a local Ray instance with the app deployed as 2 replicas (each its own tiny
model and batcher) answering a real HTTP client through Serve's proxy: both replicas answer, none
before its model has loaded, and a model that fails to load fails the deployment."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import httpx
import pytest
from bench.lsp_client import free_port
from bench.serve_client import wait_healthy

ray = pytest.importorskip("ray", reason="ray[serve] is not installed (pip install 'dllm-complete[ray]')")
serve = pytest.importorskip("ray.serve", reason="ray[serve] is not installed (pip install 'dllm-complete[ray]')")

from dllm_complete.dllm.testing import tiny_checkpoint  # noqa: E402
from dllm_complete.serve import ray_app  # noqa: E402
from dllm_complete.serve.api import Limits  # noqa: E402
from dllm_complete.serve.app import Settings  # noqa: E402

PREFIX, SUFFIX = "def add(a, b):\n    return ", "\n"
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt"))


def test_dllm_serve_ray_is_one_command_and_stops_on_sigterm(tiny, tmp_path):
    # first in the module: its own Ray instance, before the fixture's starts
    port, log = free_port(), tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dllm_complete.serve", "--ray", "--replicas", "1",
                                 "--max-replicas", "2", "--port", str(port), "--model", tiny, "--device", "cpu",
                                 "--max-batch", "4"], stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, 90, proc)
        r = httpx.post(url + "/infill", json={"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 8},
                       timeout=30)
        assert r.status_code == 200, r.text
        assert isinstance(r.json()["content"], str) and r.headers["x-dllm-replica"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(httpx.TransportError):  # Ray and its proxy are gone
        httpx.get(url + "/health", timeout=2)


@pytest.fixture(scope="module")
def cluster(tiny):
    """A local Ray instance (2 CPUs) with the app as 2 replicas; the base URL of Serve's proxy."""
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        broken = Settings(model=str(tiny) + "-missing", device="cpu")
        with pytest.raises(RuntimeError):
            serve.run(ray_app.application(broken), name="broken", route_prefix="/broken")
        why = serve.status().applications["broken"].deployments["dllm"].message
        serve.delete("broken")
        settings = Settings(model=tiny, device="cpu", max_batch=4, api_key=KEY,
                            limits=Limits(per_client=32))  # every test client is 127.0.0.1
        serve.run(ray_app.application(settings, replicas=2), name=ray_app.APP, route_prefix="/")
        yield f"http://127.0.0.1:{port}", why
    finally:
        serve.shutdown()
        ray.shutdown()


def test_a_model_that_fails_to_load_fails_the_deployment(cluster):
    _, why = cluster
    assert "model failed: CheckpointError" in why


def test_two_replicas_run_each_loaded_before_it_answers(cluster):
    url, _ = cluster
    assert 503 not in wait_healthy(url, 30)  # serve.run returned: no replica is still loading
    app = serve.status().applications[ray_app.APP]
    assert app.status == "RUNNING"
    assert app.deployments["dllm"].replica_states == {"RUNNING": 2}


def test_completes_through_infill_and_openai_with_the_api_key(cluster):
    url, _ = cluster
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/infill", json={"input_prefix": PREFIX, "input_suffix": SUFFIX}).status_code == 401
        r = client.post("/infill", headers=AUTH, json={"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 8})
        assert r.status_code == 200, r.text
        assert isinstance(r.json()["content"], str) and r.json()["tokens_predicted"] > 0
        r = client.post("/v1/completions", headers=AUTH, json={"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 8})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "text_completion" and isinstance(body["choices"][0]["text"], str)
        assert body["usage"]["completion_tokens"] > 0
        r = client.post("/infill", headers=AUTH,
                        json={"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 8, "stream": True})
        assert r.status_code == 200 and r.text.startswith("data: {"), r.text


def test_both_replicas_answer(cluster):
    url, _ = cluster

    async def many() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
            fills = [client.post("/infill", json={"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 8,
                                                  "seed": i}, headers={"X-Client-Id": f"editor-{i}"})
                     for i in range(12)]
            return await asyncio.gather(*fills, *[client.get("/v1/models") for _ in range(12)])

    answers = asyncio.run(many())
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200]
    assert len({r.headers["x-dllm-replica"] for r in answers}) == 2
