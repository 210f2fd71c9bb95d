"""Malformed JSON-RPC gets a proper error response and the server keeps serving.

Every wait on the server is bounded by lsp_helpers.WAIT_S (generous: a loaded 2-core machine may
take seconds to start it); nothing here is timed.
"""

import pytest
import pytest_asyncio
from lsp_helpers import RawClient, stderr_problems

pytestmark = pytest.mark.asyncio(loop_scope="module")
INIT = {"processId": None, "rootUri": None, "capabilities": {}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def raw():
    client = await RawClient.start()
    yield client
    await client.close()


async def test_not_json_is_a_parse_error(raw):
    raw.send_body(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    msg = await raw.response(None)
    assert msg["error"]["code"] == -32700


async def test_not_utf8_is_a_parse_error(raw):
    raw.send_body(b"\xff\xfe\x00garbage")
    assert (await raw.response(None))["error"]["code"] == -32700


async def test_json_nested_deeper_than_the_decoder_goes_is_a_parse_error(raw):
    raw.send_body(b'{"jsonrpc": "2.0", "id": 9, "method": "x", "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert (await raw.response(None))["error"]["code"] == -32700


async def test_json_that_is_not_jsonrpc_is_an_invalid_request(raw):
    raw.send({"id": 7, "hello": "world"})
    assert (await raw.response(7))["error"]["code"] == -32600
    raw.send_body(b"[1, 2, 3]")
    assert (await raw.response(None))["error"]["code"] == -32600


async def test_initialize_then_bad_params_and_unknown_methods(raw):
    assert "capabilities" in (await raw.request(1, "initialize", INIT))["result"]
    raw.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    bad = await raw.request(2, "textDocument/inlineCompletion", {"textDocument": 5, "position": "here"})
    assert bad["error"]["code"] == -32602 and "$.params.position" in bad["error"]["message"]  # says what is wrong
    raw.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": [1]}})  # not an id: ignored
    assert (await raw.request(3, "no/such/method", {}))["error"]["code"] == -32601
    raw.send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"bogus": True}})
    raw.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": "file:///r.py", "languageId": "python", "version": 1, "text": "x = "}}})
    raw.proc.stdin.write(b"Noise: header line\r\n")  # a stray header before a real message
    ok = await raw.request(4, "textDocument/inlineCompletion", {
        "textDocument": {"uri": "file:///r.py"}, "position": {"line": 0, "character": 4},
        "context": {"triggerKind": 2}})
    assert ok["result"]["items"][0]["insertText"] == "value + 1"


async def test_a_second_initialize_and_a_method_that_is_no_string_are_invalid_requests(raw):
    second = await raw.request(5, "initialize", {**INIT, "capabilities": {"general": {"positionEncodings": ["utf-8"]}}})
    assert second["error"]["code"] == -32600  # the position encoding stays the one agreed first
    raw.send({"jsonrpc": "2.0", "id": 6, "method": 5})
    assert (await raw.response(6))["error"]["code"] == -32600


async def test_a_clients_mistakes_are_not_logged_as_server_errors(tmp_path):
    log = tmp_path / "stderr"
    with log.open("wb") as stderr:
        client = await RawClient.start(stderr=stderr)
    try:
        assert "capabilities" in (await client.request(1, "initialize", INIT))["result"]
        bad = await client.request(2, "textDocument/inlineCompletion", {"textDocument": 5, "position": "here"})
        assert bad["error"]["code"] == -32602
        client.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": [1]}})
        assert (await client.request(3, "shutdown", None))["result"] is None
        client.notify("exit")
        assert await client.wait() == 0
    finally:
        await client.close()
    assert stderr_problems(log.read_text()) == []


async def test_an_id_that_is_no_number_or_string_is_an_invalid_request(raw):
    for msg_id in ({"a": 1}, [1], True):
        raw.send({"jsonrpc": "2.0", "id": msg_id, "method": "dllm/stats", "params": {}})
        error = (await raw.response(None))["error"]
        assert error["code"] == -32600 and "traceback" not in str(error).lower()


async def test_a_change_that_cannot_be_read_drops_the_document_until_it_is_reopened(raw):
    uri, opened = "file:///lost.py", {"uri": "file:///lost.py", "languageId": "python", "version": 1, "text": "x = "}

    async def items() -> list:
        answer = await raw.request(20 + len(seen), "textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 2}})
        seen.append(answer)
        return (answer["result"] or {}).get("items", [])
    seen: list = []
    raw.notify("textDocument/didOpen", {"textDocument": opened})
    assert await items()
    raw.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                          "contentChanges": [{"range": None, "text": "y"}]})
    while (msg := await raw.recv()).get("method") != "window/showMessage":
        pass
    assert "could not be read" in msg["params"]["message"] and uri in msg["params"]["message"]
    assert await items() == []  # not completions of text the editor no longer has
    raw.notify("textDocument/didOpen", {"textDocument": opened})
    assert await items()


async def test_shutdown_and_exit(raw):
    assert (await raw.request(9, "shutdown", None))["result"] is None
    raw.notify("exit")
    assert await raw.wait() == 0


async def test_exit_without_shutdown_is_an_error_exit():
    client = await RawClient.start()
    await client.request(1, "initialize", INIT)
    client.notify("exit")
    assert await client.wait() == 1
