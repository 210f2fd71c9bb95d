"""dllm-serve end to end over real HTTP: llama.vscode's and llama.vim's request shapes, the official
`openai` client, health, metrics, limits and bad input (4xx JSON, never a 500 or a dead server)."""

import json
import socket
import time

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from serve_helpers import start, stop

PREFIX = "import os\n\n\ndef count_lines(path):\n    \"\"\"Return the number of lines in the file.\"\"\"\n"
LINE = "    with open(path) as f:\n        return "
SUFFIX = "\n\n\ndef main():\n    print(count_lines('a.txt'))\n"
TIMINGS = {"prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second", "predicted_n", "predicted_ms",
           "predicted_per_token_ms", "predicted_per_second"}


def vscode_request(**extra) -> dict:
    """llama.vscode's FIM request (src/llama-server.ts)."""
    return {"id_slot": 0, "input_prefix": PREFIX + "    with open(path) as f:\n", "input_suffix": SUFFIX,
            "input_extra": [{"text": "def helper():\n    pass\n", "time": 1765000000000, "filename": "util.py"}],
            "prompt": "        return ", "n_predict": 128, "n_cmpl": 3, "top_k": 40, "top_p": 0.99, "stream": False,
            "samplers": ["top_k", "top_p", "infill"], "cache_prompt": True, "t_max_prompt_ms": 500,
            "t_max_predict_ms": 500, "n_indent": 8, **extra}


def test_health_and_models(server):
    url, _ = server
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    models = httpx.get(url + "/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == "dllm-code-small"


def test_llama_vscode_completion_and_cache_warming(server):
    url, _ = server
    r = httpx.post(url + "/infill", json=vscode_request(language="python"), timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()
    assert isinstance(results, list) and len(results) == 3  # n_cmpl: an array, as llama.cpp
    assert results[0]["content"].strip() and "\n" not in results[0]["content"]
    for res in results:
        assert TIMINGS <= set(res["timings"]) and "n_ctx" in res["generation_settings"]
        assert isinstance(res["tokens_cached"], int) and res["truncated"] is False
    warm = {"id_slot": 0, "input_prefix": "", "input_suffix": "",
            "input_extra": [{"text": "x = 1\n", "filename": "a.py"}],
            "prompt": "", "n_predict": 0, "samplers": [], "cache_prompt": True, "t_max_prompt_ms": 500,
            "t_max_predict_ms": 1}
    r = httpx.post(url + "/infill", json=warm)
    assert r.status_code == 200 and r.json()["content"] == "" and r.json()["tokens_predicted"] == 0


def test_llama_vim_request_shape_and_compact_body(server):
    url, _ = server
    fields = ["content", "timings/prompt_n", "timings/prompt_ms", "timings/prompt_per_token_ms",
              "timings/prompt_per_second", "timings/predicted_n", "timings/predicted_ms",
              "timings/predicted_per_token_ms", "timings/predicted_per_second", "truncated", "tokens_cached"]
    body = {"id_slot": 0, "input_prefix": PREFIX + "    with open(path) as f:\n", "input_suffix": SUFFIX,
            "input_extra": [], "prompt": "        return ", "n_predict": 128, "stop": [], "n_indent": 8,
            "top_k": 40, "top_p": 0.90, "samplers": ["top_k", "top_p", "infill"], "stream": False,
            "cache_prompt": True, "t_max_prompt_ms": 500, "t_max_predict_ms": 250, "response_fields": fields,
            "model": ""}
    r = httpx.post(url + "/infill", content=json.dumps(body),  # llama.vim: an empty key, always
                   headers={"Content-Type": "application/json", "Authorization": "Bearer"}, timeout=60)
    assert r.status_code == 200
    assert r.text.lstrip().startswith("{") and '"content":"' in r.text  # what llama.vim matches
    assert set(r.json()) == set(fields)


def test_a_streamed_infill_ends_with_stop_even_when_fields_are_picked(server):
    url, _ = server
    body = {"input_prefix": "x = ", "input_suffix": "\n", "stream": True, "response_fields": ["content"]}
    r = httpx.post(url + "/infill", json=body, timeout=60)
    events = [json.loads(line[len("data: "):]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert [event["stop"] for event in events] == [False, True] and events[1]["content"] == ""


def test_any_finite_temperature_is_served(server):
    url, _ = server
    for temperature in (1e-300, 1e-40, 1e39, 1e300):
        body = {"input_prefix": "x = ", "input_suffix": "\n", "temperature": temperature, "n_predict": 8}
        r = httpx.post(url + "/infill", json=body, timeout=60)
        assert r.status_code == 200, (temperature, r.text)


def test_a_stop_string_cuts_the_text(server):
    url, _ = server
    body = {"input_prefix": "def total(items):\n", "prompt": "", "input_suffix": "\n", "n_predict": 96}
    full = httpx.post(url + "/infill", json=body, timeout=60).json()["content"]
    assert len(full.strip()) >= 4
    stop = full.strip()[2:4]
    cut = httpx.post(url + "/infill", json={**body, "stop": ["never there", stop]}, timeout=60).json()
    assert cut["content"] == full[:full.index(stop)] and cut["stop_type"] == "word"


def test_a_completion_cut_by_its_token_cap_says_so(server):
    url, _ = server
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    whole = client.completions.create(model="dllm-code-small", prompt=PREFIX + LINE, suffix=SUFFIX, max_tokens=32)
    capped = client.completions.create(model="dllm-code-small", prompt=PREFIX + LINE, suffix=SUFFIX, max_tokens=2)
    assert (whole.choices[0].finish_reason, capped.choices[0].finish_reason) == ("stop", "length")
    assert capped.usage.completion_tokens == 2
    body = {"input_prefix": PREFIX, "prompt": LINE, "input_suffix": SUFFIX}
    assert httpx.post(url + "/infill", json={**body, "n_predict": 2}, timeout=60).json()["stop_type"] == "limit"
    assert httpx.post(url + "/infill", json=body, timeout=60).json()["stop_type"] == "eos"


def test_openai_client_completions_streaming_and_models(server):
    url, _ = server
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    out = client.completions.create(model="dllm-code-small", prompt=PREFIX + LINE, suffix=SUFFIX, max_tokens=32,
                                    n=2, temperature=0)
    assert len(out.choices) == 2 and out.choices[0].text.strip()
    assert out.choices[0].finish_reason in ("stop", "length") and out.usage.prompt_tokens > 0
    chunks = list(client.completions.create(model="dllm-code-small", prompt=PREFIX + LINE, suffix=SUFFIX,
                                            max_tokens=32, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == out.choices[0].text
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    counted = list(client.completions.create(model="dllm-code-small", prompt=PREFIX + LINE, suffix=SUFFIX,
                                             max_tokens=32, stream=True, stream_options={"include_usage": True}))
    usage = counted[-1].usage  # OpenAI's last chunk for include_usage: no choices, the request's usage
    assert counted[-1].choices == [] and all(c.usage is None for c in counted[:-1])
    assert usage.prompt_tokens == out.usage.prompt_tokens and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert [m.id for m in client.models.list()] == ["dllm-code-small"]
    with pytest.raises(openai.BadRequestError, match="logprobs"):
        client.completions.create(model="x", prompt="a", suffix="b", logprobs=2)


def test_what_clients_of_other_servers_send_is_read_as_they_mean_it(server):
    url, _ = server
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    plain = client.completions.create(model="dllm-code-small", prompt=PREFIX + LINE, suffix=SUFFIX, max_tokens=32)
    nulls = client.completions.create(model="dllm-code-small", prompt=PREFIX + LINE, suffix=None, n=None, echo=None,
                                      max_tokens=32)  # null is the field's default
    omitted = client.completions.create(model="dllm-code-small", prompt=PREFIX + LINE, max_tokens=32)
    assert nulls.choices[0].text == omitted.choices[0].text
    templated = f"<|fim_prefix|>{PREFIX + LINE}<|fim_suffix|>{SUFFIX}<|fim_middle|>"  # llama.vscode's OpenAI mode
    fim = client.completions.create(model="dllm-code-small", prompt=templated, max_tokens=32)
    assert fim.choices[0].text == plain.choices[0].text
    starcoder = f"<fim_prefix>{PREFIX + LINE}<fim_suffix>{SUFFIX}<fim_middle>"
    for path, body in (("/completion", {"prompt": starcoder, "n_predict": 32}),  # llama.cpp's, as Continue sends it
                       ("/completions", {"prompt": starcoder, "n_predict": 32}),  # llama.cpp's alias of it
                       ("/v1/fim/completions", {"prompt": PREFIX + LINE, "suffix": SUFFIX, "max_tokens": 32})):
        r = httpx.post(url + path, json=body, timeout=60).json()
        assert r.get("content", r.get("choices", [{}])[0].get("text")) == plain.choices[0].text, (path, r)
    body = {"input_prefix": PREFIX, "prompt": LINE, "input_suffix": SUFFIX, "stop": None, "n_indent": None}
    greedy = httpx.post(url + "/infill", json={**body, "seed": -1, "temperature": -1, "n_predict": 4096}, timeout=60)
    assert greedy.status_code == 200 and greedy.json()["content"] == httpx.post(url + "/infill", json=body).json()["content"]
    assert greedy.json()["generation_settings"]["n_predict"] == 512  # lowered to the server's cap, as llama.cpp
    three = httpx.post(url + "/infill", json={**body, "n_cmpl": 3}, timeout=60).json()
    assert [(r["generation_settings"]["temperature"] > 0, r["generation_settings"]["seed"]) for r in three] == [
        (False, 0), (True, 1), (True, 2)]  # the sampled alternatives say so
    assert client.models.retrieve("dllm-code-small").id == "dllm-code-small"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")
    assert httpx.head(url + "/health").status_code == 200 and httpx.get(url + "/v1/health").json() == {"status": "ok"}
    wrong = httpx.get(url + "/infill")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"


def test_the_word_that_stopped_a_completion_is_named(server):
    url, _ = server
    body = {"input_prefix": "def total(items):\n", "input_suffix": "\n", "n_predict": 96}
    full = httpx.post(url + "/infill", json=body, timeout=60).json()["content"].strip()
    cut = httpx.post(url + "/infill", json={**body, "stop": ["never there", full[2:4]]}, timeout=60).json()
    assert (cut["stop_type"], cut["stopping_word"]) == ("word", full[2:4])


def test_a_client_that_hangs_up_while_sending_is_not_a_server_error(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /infill HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"input_prefix\": \"ab")
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(url + "/metrics").text)}
    for _ in range(100):  # the server notices the hang-up on its own time
        statuses = {s.labels["status"] for s in families["dllm_requests"].samples if s.labels.get("route") == "/infill"}
        if "499" in statuses:
            break
        time.sleep(0.05)
        families = {f.name: f for f in text_string_to_metric_families(httpx.get(url + "/metrics").text)}
    assert "499" in statuses and "500" not in statuses


BAD = [
    ("/infill", b"{not json", 400, "invalid JSON"),
    ("/infill", b"[]", 400, ""),
    ("/infill", json.dumps({"input_suffix": ""}).encode(), 400, "input_prefix"),
    ("/infill", json.dumps({"input_prefix": 5, "input_suffix": ""}).encode(), 400, "input_prefix"),
    ("/infill", json.dumps({"input_prefix": "", "input_suffix": "", "n_cmpl": 99}).encode(), 400, "n_cmpl"),
    ("/v1/completions", json.dumps({"prompt": "a", "max_tokens": 10 ** 6}).encode(), 400, "max_tokens"),  # /infill lowers n_predict
    ("/v1/completions", json.dumps({"prompt": "a", "temperature": -1}).encode(), 400, "temperature"),  # /infill: greedy
    ("/infill", json.dumps({"input_prefix": "", "input_suffix": "", "mode": "wide"}).encode(), 400, "mode"),
    ("/infill", json.dumps({"input_prefix": "", "input_suffix": "", "grammar": "root ::= x"}).encode(), 400, "grammar"),
    ("/infill", json.dumps({"input_prefix": "", "input_suffix": "", "input_extra": [{"filename": "a"}]}).encode(),
     400, "text"),
    ("/infill", json.dumps({"input_prefix": "x" * 250_000, "input_suffix": ""}).encode(), 400, "limit"),
    ("/infill", b"{" + b" " * (2 << 20) + b"}", 413, "bytes"),
    ("/infill", b'{"input_prefix": "", "input_suffix": "", "temperature": Infinity}', 400, ""),
    ("/infill", b'{"input_prefix": "", "input_suffix": "", "temperature": 1e999}', 400, "temperature"),
    ("/infill", json.dumps({"input_prefix": "", "input_suffix": "", "seed": 2 ** 70}).encode(), 400, "seed"),
    ("/v1/completions", json.dumps({"suffix": "x"}).encode(), 400, "prompt"),
    ("/v1/completions", json.dumps({"prompt": ["a", "b"]}).encode(), 400, "one prompt"),
    ("/v1/completions", json.dumps({"prompt": "a", "max_tokens": 0}).encode(), 400, "max_tokens"),
    ("/v1/completions", json.dumps({"prompt": "a", "echo": True}).encode(), 400, "echo"),
    ("/v1/completions", json.dumps({"prompt": [1, 2]}).encode(), 400, "token-id prompts are not supported"),
    ("/v1/completions", json.dumps({"prompt": "a", "stop": ["x", 3]}).encode(), 400, "stop.1: "),
    ("/v1/completions", json.dumps({"prompt": "a", "n": 0}).encode(), 400, "n / n_cmpl"),
    ("/dllm/infill", json.dumps({"prefix": "", "suffix": "", "sampler": {"threshold": 7}}).encode(), 400, "threshold"),
    ("/dllm/infill", json.dumps({"prefix": "", "suffix": "", "sampler": {"context_tokens": 10 ** 6}}).encode(), 400,
     "context_tokens"),
    ("/dllm/infill", json.dumps({"prefix": "", "suffix": "", "sampler": {"draft_tokens": 8}}).encode(), 400,
     "draft_tokens: not used by diffusion models"),
    ("/nowhere", b"{}", 404, ""),
]


@pytest.mark.parametrize("path,body,status,words", BAD, ids=[f"{p}-{i}" for i, (p, *_) in enumerate(BAD)])
def test_bad_input_gets_a_4xx_json_error(server, path, body, status, words):
    url, _ = server
    r = httpx.post(url + path, content=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == status and words in error["message"] and "\n" not in error["message"]


scalars = (st.none() | st.booleans() | st.integers(-10 ** 12, 10 ** 12)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
FIELDS = ["input_prefix", "input_suffix", "prompt", "input_extra", "n_predict", "n_cmpl", "n", "stop", "n_indent",
          "temperature", "seed", "stream", "response_fields", "language", "mode", "prefix", "suffix", "max_tokens",
          "sampler", "syntax", "logprobs", "echo", "best_of", "user"]
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/infill", "/v1/completions", "/dllm/infill"]), body=bodies,
       base=st.sampled_from([{}, {"input_prefix": "x = ", "input_suffix": "\n"}, {"prompt": "x = ", "suffix": ""},
                             {"prefix": "x = ", "suffix": "\n"}]))
def test_fuzzed_requests_never_break_the_server(server, path, body, base):
    url, proc = server
    r = httpx.post(url + path, json={**base, **body}, timeout=120)
    assert r.status_code in (200, 400, 413, 429), r.text
    if r.status_code != 200:
        assert r.json()["error"]["message"]
    assert proc.poll() is None


def test_metrics_in_prometheus_text(server):
    url, _ = server
    httpx.post(url + "/infill", json={"input_prefix": "x = ", "input_suffix": "\n"}, timeout=60)
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(url + "/metrics").text)}
    assert {"dllm_requests", "dllm_request_seconds", "dllm_queue_waiting", "dllm_queue_running", "dllm_batch_size",
            "dllm_forwards", "dllm_infill_model_calls", "dllm_infills", "dllm_cancellations"} <= set(families)
    served = [s for s in families["dllm_requests"].samples if s.labels == {"route": "/infill", "status": "200"}]
    assert served and served[0].value >= 1


def test_an_api_key_guards_everything_but_health():
    proc, url = start(env={"DLLM_API_KEY": "s3cret\n"})  # read from a file: its newline too
    try:
        body = {"input_prefix": "x = ", "input_suffix": "\n"}
        assert httpx.get(url + "/health").status_code == 200
        refused = httpx.post(url + "/infill", json=body)
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
        assert httpx.post(url + "/infill", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.post(url + "/infill", content=b"{" + b" " * (2 << 20) + b"}").status_code == 401  # key first
        for scheme in ("Bearer", "bearer", "BEARER"):
            assert httpx.post(url + "/infill", json=body, headers={"Authorization": f"{scheme} s3cret"},
                              timeout=60).status_code == 200
        too_big = httpx.post(url + "/infill", content=b"{" + b" " * (2 << 20) + b"}",
                             headers={"Authorization": "Bearer s3cret"})
        assert too_big.status_code == 413
        metrics = httpx.get(url + "/metrics", headers={"X-Api-Key": "s3cret"})
        assert metrics.status_code == 200 and 'status="413"' in metrics.text
    finally:
        code, err = stop(proc)
    assert "Traceback" not in err and "s3cret" not in err


def test_a_key_a_header_cannot_carry_is_refused_without_showing_it():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "dllm_complete.serve", "--api-key", "se cret"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "API key" in out.stderr and "se cret" not in out.stderr


def test_binding_beyond_localhost_needs_a_key():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "dllm_complete.serve", "--host", "0.0.0.0"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "api-key" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_language_without_a_grammar_is_refused_at_start():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "dllm_complete.serve", "--language", "klingon"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "no grammar for 'klingon'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_ray_missing_is_one_line_not_a_traceback(monkeypatch, capsys):
    import sys

    from dllm_complete.serve import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed
    monkeypatch.delitem(sys.modules, "dllm_complete.serve.ray_app", raising=False)
    with pytest.raises(SystemExit) as stop:
        main.main(["--ray"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "dllm-complete[ray]" in err and len(err.splitlines()) == 1


def test_scope_field_re_masks_names_that_resolve_to_nothing(server):
    # the default model writes `np.a(radius)` here, with no numpy imported; `scope` (ours) re-masks it
    from dllm_complete.grammars.combined import scope_check
    from dllm_complete.grammars.languages import language_for

    url, _ = server
    prefix, suffix = "def area(radius):\n    return ", "\n"
    check = scope_check(language_for("python"), None, prefix + suffix)
    texts = {}
    for scope in (False, True):
        r = httpx.post(url + "/v1/completions", json={"prompt": prefix, "suffix": suffix, "language": "python",
                                                      "max_tokens": 16, "scope": scope}, timeout=60)
        assert r.status_code == 200, r.text
        texts[scope] = r.json()["choices"][0]["text"]
    assert check.unresolved(prefix, texts[False], suffix)  # the case this test is about
    assert not check.unresolved(prefix, texts[True], suffix)
    r = httpx.post(url + "/v1/completions", json={"prompt": prefix, "scope": [1]})
    assert r.status_code == 400 and "scope" in r.json()["error"]["message"]


def test_requests_in_flight_are_capped_per_client_and_in_all():
    # a client id is the client's to choose: rotating it must not queue without bound
    from dllm_complete.serve.api import BadRequest
    from dllm_complete.serve.app import Clients

    clients = Clients(cap=2, total=3)
    tokens = [clients.enter("10.0.0.1 a", "a"), clients.enter("10.0.0.1 b", "b")]
    tokens.append(clients.enter("10.0.0.1 c", "c"))
    with pytest.raises(BadRequest) as busy:
        clients.enter("10.0.0.1 d", "d")
    assert busy.value.status == 503
    clients.leave("10.0.0.1 c", "c", tokens.pop())
    clients.enter("10.0.0.1 a", "a")  # room again; the same client's second
    with pytest.raises(BadRequest) as limited:
        clients.enter("10.0.0.1 a", "a")
    assert limited.value.status == 429
