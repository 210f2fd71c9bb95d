"""Arena mode end to end (`dllm/arena`, `dllm/arenaVote`): a real server with the tiny diffusion model
and its AR twin as two contestants; a team server (`dllm-serve`) through its llama.cpp `/infill` and
OpenAI `/v1/completions` endpoints, one that refuses connections, one that answers garbage and one
that answers too late: every round answers, a failing backend shows as failed and cannot be picked, votes land in the
local log with the backends' names."""

import asyncio
import json
import time

import pytest
from lsp_helpers import RawClient, free_port

from bench.serve_client import spawn, wait_healthy
from dllm_complete.dllm.testing import tiny_checkpoint

pytestmark = pytest.mark.asyncio
URI = "file:///codes/a.py"
TEXT = "def add(a, b):\n    return \n\nclass Stack:\n    def push(self, item):\n        self.\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("arena")
    return {kind: str(tiny_checkpoint(root / kind, kind=kind)) for kind in ("diffusion", "ar")}


@pytest.fixture()
def garbage_server(http_stub):
    def garbage(method, path, headers, body):  # HTML where JSON belongs; /slow answers too late
        if path.startswith("/slow"):
            time.sleep(10)
        return 200, {}, b"<html>not json</html>"
    return http_stub(garbage)


async def start(tiny, backends, log, timeout_ms=20000, text=TEXT, **settings):
    """The server with the tiny model (None: the fake engine, steered by markers in the text), arena mode
    on with `backends`, the other `settings`, and `text` open."""
    raw = await (RawClient.start("--model", tiny["diffusion"], fake=False) if tiny else RawClient.start(fake=True))
    options = {"arena": {"enabled": True, "backends": backends, "timeoutMs": timeout_ms, "logFile": str(log)},
               "debounceMs": 0, **settings}
    await raw.request(1, "initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                        "initializationOptions": options})
    raw.notify("initialized", {})
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                         "text": text}})
    return raw


def arena_params(line, character):
    return {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}}


async def test_rounds_between_local_models_and_votes(tiny, tmp_path):
    log = tmp_path / "votes.jsonl"
    raw = await start(tiny, ["dllm", f"ar@model:{tiny['ar']}"], log)
    try:
        choices, shown = ["A", "B", "none", "A"], []
        for i, choice in enumerate(choices):
            result = (await raw.request(10 + i, "dllm/arena", arena_params(1, 11)))["result"]
            assert result["round"] and [s["slot"] for s in result["suggestions"]] == ["A", "B"]
            for s in result["suggestions"]:
                assert s["status"] in ("ok", "empty") and s["latencyMs"] > 0
                assert s["range"] == {"start": {"line": 1, "character": 11}, "end": {"line": 1, "character": 11}}
            shown.append(result)
            vote = (await raw.request(20 + i, "dllm/arenaVote", {"round": result["round"], "choice": choice}))
            assert vote["result"] == {"recorded": True, "winner": choice}
        again = await raw.request(30, "dllm/arenaVote", {"round": shown[0]["round"], "choice": "A"})
        assert again["error"]["code"] == -32602  # a round is voted once
        bad = await raw.request(31, "dllm/arena", {"textDocument": {"uri": URI}})
        assert bad["error"]["code"] == -32602
    finally:
        await raw.close()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 4 and all({r["a"], r["b"]} == {"dllm", "ar"} for r in records)
    for record, choice in zip(records, choices):
        expected = "none" if choice == "none" else record["first"] if choice == "A" else "ab"[record["first"] == "a"]
        assert record["winner"] == expected and record["code"] is None and record["language"] == "python"
        assert set(record["latency_ms"]) == {"a", "b"} and record["mode"] in ("single", "multi")


async def test_failing_backends_lose_visibly_and_never_block(tiny, tmp_path, garbage_server):
    # a team server (dllm-serve) with the AR twin answers through llama.cpp's /infill and OpenAI's
    # /v1/completions; a closed port and a server that answers HTML are errors, one that answers too
    # late times out; each round still answers
    serve, url = spawn("--model", tiny["ar"])
    try:
        await asyncio.to_thread(wait_healthy, url, 120, serve)
        log = tmp_path / "votes.jsonl"
        backends = [f"twin@infill:{url}", f"oa@openai:{url}/v1?model=tiny-ar", f"down@infill:http://127.0.0.1:{free_port()}",
                    f"garbage@openai:{garbage_server}/v1?model=x", f"slow@openai:{garbage_server}/slow/v1"]
        raw = await start(tiny, backends, log, timeout_ms=1500)
        try:
            statuses = {}
            for i in range(12):
                result = (await raw.request(40 + i, "dllm/arena", arena_params(1, 11)))["result"]
                await raw.request(60 + i, "dllm/arenaVote", {"round": result["round"], "choice": "none"})
            records = [json.loads(line) for line in log.read_text().splitlines()]
            for r in records:
                for side in "ab":
                    statuses.setdefault(r[side], set()).add(r["status"][side])
            assert statuses.get("down", {"error"}) == {"error"} and statuses.get("garbage", {"error"}) == {"error"}
            assert statuses.get("twin", {"ok"}) | statuses.get("oa", {"ok"}) <= {"ok", "empty"}
            assert statuses.get("slow", {"timeout"}) == {"timeout"}
            assert len(statuses) >= 4
            assert all(r["errors"][s] for r in records for s in "ab" if r["status"][s] in ("error", "timeout"))
        finally:
            await raw.close()
    finally:
        serve.terminate()
        serve.wait(30)


async def test_off_or_unconfigured_arena_gives_no_round(tiny, tmp_path):
    raw = await start(tiny, ["dllm"], tmp_path / "votes.jsonl")  # one backend: nothing to pair
    try:
        result = (await raw.request(70, "dllm/arena", arena_params(1, 11)))["result"]
        assert result == {"round": None, "suggestions": []}
    finally:
        await raw.close()


async def test_no_round_while_completions_are_off(tmp_path):
    # switched off, dllm asks no backend, local or over HTTP, about the user's code
    raw = await start(None, ["a@dllm", "b@dllm"], tmp_path / "votes.jsonl", enabled=False)
    try:
        result = (await raw.request(71, "dllm/arena", arena_params(1, 11)))["result"]
        assert result == {"round": None, "suggestions": []}
    finally:
        await raw.close()



async def test_a_round_answers_where_it_was_asked_though_the_text_changed_meanwhile(tmp_path):
    raw = await start(None, ["a@dllm", "b@dllm"], tmp_path / "votes.jsonl", 5000, "#fake:delay=600\ndef f():\n    return \n")
    try:
        asked = asyncio.ensure_future(raw.request(80, "dllm/arena", arena_params(2, 11)))
        await asyncio.sleep(0.2)
        raw.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
             "text": "import os\nimport sys\n"}]})
        result = (await asked)["result"]
        assert [s["status"] for s in result["suggestions"]] == ["ok", "ok"]
        assert all(s["range"]["start"] == {"line": 2, "character": 11} for s in result["suggestions"])
    finally:
        await raw.close()


async def test_a_vote_that_cannot_be_logged_leaves_the_round_open(tmp_path):
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log's folder should be")
    raw = await start(None, ["a@dllm", f"down@infill:http://127.0.0.1:{free_port()}"], blocker / "votes.jsonl", 5000,
                      "def f():\n    return \n")
    try:
        result = (await raw.request(81, "dllm/arena", arena_params(1, 11)))["result"]
        slot = {s["status"]: s["slot"] for s in result["suggestions"]}
        refused = await raw.request(82, "dllm/arenaVote", {"round": result["round"], "choice": slot["error"]})
        assert "cannot be picked" in refused["error"]["message"]  # a failed backend loses, it is not chosen
        failed = await raw.request(83, "dllm/arenaVote", {"round": result["round"], "choice": slot["ok"]})
        assert "cannot write the vote log" in failed["error"]["message"] and "Traceback" not in json.dumps(failed)
        blocker.unlink()
        again = await raw.request(84, "dllm/arenaVote", {"round": result["round"], "choice": slot["ok"]})
        assert again["result"]["recorded"] and len((blocker / "votes.jsonl").read_text().splitlines()) == 1
    finally:
        await raw.close()
