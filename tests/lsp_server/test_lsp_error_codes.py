"""Every request gets the error code JSON-RPC and LSP prescribe, and no notification gets an answer,
through a server's life: before `initialize` (-32002), serving (-32601, -32602, `params` left out),
after `shutdown` (-32600), then `exit`.

One server for the module, driven in order by the tests below. "No answer to a notification" is
checked by sending a request right after it: the first response that comes must be that request's.
Every wait is bounded by lsp_helpers.WAIT_S.
"""

import itertools

import pytest
import pytest_asyncio
from lsp_helpers import RawClient, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")
INIT = {"processId": None, "rootUri": None, "capabilities": {}}
URI = "file:///codes/a.py"
INLINE = {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 2}}
OPEN = {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": "x = "}}
_ids = itertools.count(100)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def raw():
    client = await RawClient.start()
    yield client
    await client.close()


def send(raw: RawClient, method: str, params=None, *, msg_id=None, with_params: bool = True) -> None:
    message = {"jsonrpc": "2.0", "method": method}
    if msg_id is not None:
        message["id"] = msg_id
    if with_params:
        message["params"] = params
    raw.send(message)


async def next_response(raw: RawClient) -> dict:
    """The next message from the server that is a response (its own notifications are skipped)."""
    while True:
        msg = await raw.recv()
        if "method" not in msg:
            return msg


async def answer(raw: RawClient, method: str, params=None, **kw) -> dict:
    msg_id = next(_ids)
    send(raw, method, params, msg_id=msg_id, **kw)
    msg = await next_response(raw)
    assert msg["id"] == msg_id, msg  # nothing else was answered in between
    return msg


async def no_answer_to(raw: RawClient, *notifications: tuple) -> None:
    for method, params, with_params in notifications:
        send(raw, method, params, with_params=with_params)
    assert "result" in await answer(raw, "dllm/stats", {})


NOTIFICATIONS = [  # well-formed, without params, with bad params, unknown, a cancel for nothing
    ("textDocument/didOpen", OPEN, True), ("textDocument/didChange", None, False),
    ("textDocument/didChange", {"bogus": 1}, True), ("no/such/notification", {}, True),
    ("no/such/notification", None, False), ("$/cancelRequest", None, False), ("$/cancelRequest", {"id": 12345}, True),
    ("dllm/shown", None, False),
]


# --- before `initialize` -------------------------------------------------------------------------

@pytest.mark.parametrize("method, params", [("dllm/stats", {}), ("textDocument/inlineCompletion", INLINE),
                                            ("shutdown", None), ("no/such/method", {})])
async def test_a_request_before_initialize_is_server_not_initialized(raw, method, params):
    msg_id = next(_ids)
    send(raw, method, params, msg_id=msg_id)
    msg = await next_response(raw)
    assert msg["id"] == msg_id and msg["error"]["code"] == -32002


async def test_notifications_before_initialize_are_dropped_unanswered(raw):
    for method, params, with_params in NOTIFICATIONS:
        send(raw, method, params, with_params=with_params)
    msg_id = next(_ids)
    send(raw, "dllm/stats", {}, msg_id=msg_id)
    assert (await next_response(raw))["id"] == msg_id  # -32002: it is the first response
    assert "capabilities" in (await answer(raw, "initialize", INIT))["result"]
    send(raw, "initialized", {})
    assert (await answer(raw, "dllm/stats"))["result"]["documents"] == 0  # the didOpen was dropped
    await eventually(lambda: _model_loaded(raw))


async def _model_loaded(raw: RawClient) -> bool:
    return (await answer(raw, "dllm/stats", {}))["result"]["model"] is not None


# --- serving -------------------------------------------------------------------------------------

async def test_a_request_without_params_is_served_where_params_are_optional(raw):
    assert "scheduler" in (await answer(raw, "dllm/stats", with_params=False))["result"]
    assert "scheduler" in (await answer(raw, "dllm/stats", None))["result"]


@pytest.mark.parametrize("with_params", [False, True], ids=["no params", "null params"])
@pytest.mark.parametrize("method", ["textDocument/inlineCompletion", "textDocument/completion",
                                    "workspace/executeCommand"])
async def test_a_request_without_the_params_it_needs_is_invalid_params(raw, method, with_params):
    assert (await answer(raw, method, None, with_params=with_params))["error"]["code"] == -32602


@pytest.mark.parametrize("with_params", [False, True], ids=["no params", "with params"])
@pytest.mark.parametrize("method", ["no/such/method", "$/no/such/method", "dllm/nothing"])
async def test_an_unknown_method_is_method_not_found(raw, method, with_params):
    assert (await answer(raw, method, {}, with_params=with_params))["error"]["code"] == -32601


async def test_notifications_are_never_answered(raw):
    await no_answer_to(raw, *NOTIFICATIONS)
    ok = await answer(raw, "textDocument/inlineCompletion", INLINE)  # the didOpen above was served
    assert ok["result"]["items"][0]["insertText"] == "value + 1"


# --- after `shutdown` ----------------------------------------------------------------------------

async def test_requests_after_shutdown_are_invalid_requests(raw):
    assert (await answer(raw, "shutdown", with_params=False))["result"] is None
    for method, params in [("dllm/stats", {}), ("textDocument/inlineCompletion", INLINE), ("shutdown", None),
                           ("no/such/method", {}), ("initialize", INIT)]:
        assert (await answer(raw, method, params))["error"]["code"] == -32600


async def test_notifications_after_shutdown_are_dropped_and_exit_ends_with_0(raw):
    for method, params, with_params in NOTIFICATIONS:
        send(raw, method, params, with_params=with_params)
    msg_id = next(_ids)
    send(raw, "dllm/stats", {}, msg_id=msg_id)
    assert (await next_response(raw))["id"] == msg_id
    send(raw, "exit", with_params=False)
    assert await raw.wait() == 0


async def test_exit_before_initialize_ends_with_1():
    client = await RawClient.start()
    client.notify("exit")
    assert await client.wait() == 1


async def test_late_cancels_are_dropped_without_a_log_line(tmp_path):
    log = tmp_path / "stderr.txt"
    with log.open("wb") as err:
        client = await RawClient.start(stderr=err)
        assert "capabilities" in (await answer(client, "initialize", INIT))["result"]
        send(client, "initialized", {})
        for _ in range(50):  # answered first, cancelled after: what an editor sends all day
            msg = await answer(client, "dllm/stats", {})
            send(client, "$/cancelRequest", {"id": msg["id"]})
        assert "result" in await answer(client, "dllm/stats", {})
        send(client, "exit", with_params=False)
        await client.wait()
    assert "Cancel notification" not in log.read_text()
