"""Cancellation over HTTP: a client that goes away, or a newer request from the same client id,
stops the model work between denoising steps (a real server on a real socket, its model slowed)."""

import threading
import time

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from bench.lsp_client import free_port
from bench.serve_client import wait_healthy
from dllm_complete import dllm
from dllm_complete.serve.app import Settings, create_app

STEP_S = 0.05
BODY = {"input_prefix": "def add(a, b):\n", "input_suffix": "\n", "mode": "multi", "n_predict": 512}


@pytest.fixture(scope="module")
def slow_server(tiny_dir):
    engine = dllm.load(str(tiny_dir))
    hidden = engine.model.hidden

    def slow(*args, **kwargs):
        time.sleep(STEP_S)
        return hidden(*args, **kwargs)
    engine.model.hidden = slow
    engine.sampler = engine.sampler.with_overrides({"threshold": 1.0, "max_steps": 512})  # one token a step
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(max_batch=4), load=lambda *a, **k: engine),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, 120)
    yield url
    server.should_exit = True
    thread.join(30)


def metric(url: str, name: str) -> float:
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise KeyError(name)


def wait_for(predicate, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_client_that_goes_away_stops_its_infill(slow_server):
    url = slow_server
    before = metric(url, "dllm_cancellations_total")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/infill", json=BODY, timeout=httpx.Timeout(60, read=0.5))
    assert wait_for(lambda: metric(url, "dllm_cancellations_total") == before + 1)
    assert wait_for(lambda: metric(url, "dllm_queue_running") == 0)
    assert httpx.post(url + "/infill", json={**BODY, "n_predict": 4}, timeout=60).status_code == 200


def test_a_newer_request_from_the_same_client_id_cancels_the_older(slow_server):
    url = slow_server
    older: dict = {}
    thread = threading.Thread(target=lambda: older.update(r=httpx.post(
        url + "/infill", json=BODY, headers={"X-Client-Id": "editor-1"}, timeout=60)))
    thread.start()
    assert wait_for(lambda: metric(url, "dllm_queue_running") >= 1)
    newer = httpx.post(url + "/infill", json={**BODY, "n_predict": 4}, headers={"X-Client-Id": "editor-1"}, timeout=60)
    thread.join(60)
    assert newer.status_code == 200
    assert older["r"].status_code == 499 and "cancelled" in older["r"].json()["error"]["message"]
