"""End to end over stdio: a real LSP client (pytest-lsp) drives `python -m lsp_server` (fake engine).

One server for the module; each test uses its own document so they do not interfere.
"""

import asyncio
import json
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsp_helpers import (change_params, completion_params, eventually, inline_params, open_params, rng, server_command,
                         server_env)
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcMethodNotFound, JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

FOREVER_MS = 600_000  # a fake job that only cancellation ends: if it is not stopped, what follows never runs
LOG = Path(tempfile.mkdtemp(prefix="dllm-e2e-")) / "server.jsonl"  # the module's server logs here


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=server_command("--log-file", str(LOG)),
                                                              server_env=server_env()))
async def client(lsp_client: LanguageClient):
    result = await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(workspace=lsp.WorkspaceClientCapabilities(configuration=True)),
        initialization_options={"dllm": {"debounceMs": 0}}))
    lsp_client.init_result = result
    yield
    await lsp_client.shutdown_session()


async def inline(client, uri, line, col, **kw):
    result = await client.text_document_inline_completion_async(inline_params(uri, line, col, **kw))
    return list(result.items) if result else []


async def answered(request):
    """The request's result; a bound on waiting (not a speed target), so a stuck model thread fails."""
    return await asyncio.wait_for(request, 60)


async def test_capabilities(client: LanguageClient):
    caps = client.init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    assert caps.text_document_sync.change == lsp.TextDocumentSyncKind.Incremental
    assert "dllm.accepted" in caps.execute_command_provider.commands
    assert client.init_result.server_info.name == "dllm-lsp"


async def test_open_type_and_complete_with_emoji_and_crlf(client: LanguageClient):
    uri = "file:///e2e/typing.py"
    client.text_document_did_open(open_params(uri, "# héllo 😀\r\ndef f(x):\r\n    r = \r\n"))
    for i, ch in enumerate("x *"):  # one didChange per keystroke, after a surrogate pair line
        client.text_document_did_change(change_params(uri, 2 + i, (2, 8 + i), (2, 8 + i), ch))
    items = await inline(client, uri, 2, 11)
    assert items[0].insert_text == "value + 1" and rng(items[0]) == ((2, 11), (2, 11))
    # a change on the emoji line, in UTF-16 columns: replace "😀" (2 code units) by "!"
    client.text_document_did_change(change_params(uri, 9, (0, 8), (0, 10), "!"))
    items = await inline(client, uri, 2, 11)
    assert items and rng(items[0]) == ((2, 11), (2, 11))


async def test_completion_request_for_clients_without_inline(client: LanguageClient):
    uri = "file:///e2e/menu.py"
    client.text_document_did_open(open_params(uri, "#fake:text=ult = 1\nres\n"))
    result = await client.text_document_completion_async(completion_params(uri, 1, 3))
    item = result.items[0]
    assert item.label == "result = 1" and item.text_edit.new_text == "result = 1"
    assert rng(item) == ((1, 0), (1, 3))


async def test_cancel_request_gets_cancelled_and_frees_the_model(client: LanguageClient):
    uri = "file:///e2e/cancel.py"
    client.text_document_did_open(open_params(uri, f"#fake:delay={FOREVER_MS}\nx = \n"))
    fut = asyncio.ensure_future(client.protocol.send_request_async(
        lsp.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 1, 4), msg_id="cancel-me"))
    await asyncio.sleep(0.2)
    client.protocol.notify("$/cancelRequest", lsp.CancelParams(id="cancel-me"))
    try:
        result = await answered(fut)
        assert not result or not result.items  # "nothing" is allowed, a late answer is not
    except JsonRpcRequestCancelled:
        pass
    other = "file:///e2e/after-cancel.py"
    client.text_document_did_open(open_params(other, "y = \n"))
    assert await answered(inline(client, other, 0, 4))  # the endless job was stopped between steps


async def test_closing_a_document_stops_its_work_and_forgets_it(client: LanguageClient):
    uri = "file:///e2e/close.py"
    client.text_document_did_open(open_params(uri, f"#fake:delay={FOREVER_MS}\nx = \n"))
    pending = asyncio.ensure_future(inline(client, uri, 1, 4))
    await asyncio.sleep(0.2)
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri)))
    assert await answered(pending) == []
    other = "file:///e2e/after-close.py"
    client.text_document_did_open(open_params(other, "y = \n"))
    assert await answered(inline(client, other, 0, 4))  # the endless job was stopped between steps
    assert await answered(inline(client, uri, 1, 4)) == []  # a closed document is not completed


async def test_superseded_request_gets_no_stale_answer(client: LanguageClient):
    uri = "file:///e2e/supersede.py"
    marker = f"#fake:delay={FOREVER_MS}"
    client.text_document_did_open(open_params(uri, f"{marker}\nx = \n"))
    old = asyncio.ensure_future(inline(client, uri, 1, 4))
    await asyncio.sleep(0.2)
    client.text_document_did_change(change_params(uri, 2, (0, 0), (0, len(marker)), "#fake:text=new"))
    new = await answered(inline(client, uri, 1, 4))
    assert await old == [] and new[0].insert_text == "new"


async def test_edits_while_the_model_runs_are_handled(client: LanguageClient):
    uri = "file:///e2e/live.py"
    client.text_document_did_open(open_params(uri, "#fake:delay=1500\n#fake:text=value + 1\nz = \n"))
    task = asyncio.ensure_future(inline(client, uri, 2, 4))
    # the edits must land while the model runs: 1.4 s of margin on a loaded machine
    await asyncio.sleep(0.1)
    client.text_document_did_change(change_params(uri, 2, (2, 4), (2, 4), "v"))
    client.text_document_did_change(change_params(uri, 3, (2, 5), (2, 5), "a"))
    items = await task
    assert items[0].insert_text == "value + 1" and rng(items[0]) == ((2, 4), (2, 6))


async def test_shown_accepted_and_rejected_suggestions_are_logged(client: LanguageClient):
    client.protocol.notify("dllm/shown", {"id": "fb:1", "uri": "file:///e2e/fb.py"})
    client.protocol.notify("dllm/accepted", {"id": "fb:1"})
    client.protocol.notify("dllm/rejected", {"id": "fb:2"})
    await client.workspace_execute_command_async(lsp.ExecuteCommandParams(command="dllm.accepted", arguments=["fb:3"]))

    def logged():
        events = [json.loads(line) for line in LOG.read_text().splitlines() if '"fb:' in line]
        return [(e["feedback"], e["id"], e.get("via")) for e in events if e.get("event") == "suggestion"]
    assert await eventually(lambda: len(logged()) == 4)
    assert logged() == [("shown", "fb:1", None), ("accepted", "fb:1", None), ("rejected", "fb:2", None),
                        ("accepted", "fb:3", "command")]


async def test_bad_requests_get_empty_results_or_errors(client: LanguageClient):
    assert await inline(client, "file:///e2e/never-opened.py", 0, 0) == []
    uri = "file:///e2e/small.py"
    client.text_document_did_open(open_params(uri, "x = 1\n"))
    assert await inline(client, uri, 40, 2) == []
    client.text_document_did_change(change_params(uri, 2, (90, 0), (99, 9), "y = "))  # clamped
    with pytest.raises(JsonRpcMethodNotFound):
        await client.protocol.send_request_async("dllm/noSuchMethod", {})
    client.protocol.notify("dllm/noSuchNotification", {"x": 1})
    client.protocol.notify("dllm/shown", {"id": "r1:1", "uri": uri})
    client.protocol.notify("dllm/accepted", {"id": "r1:1"})
    client.protocol.notify("dllm/rejected", ["not", "an", "object"])
    await client.workspace_execute_command_async(lsp.ExecuteCommandParams(command="dllm.accepted", arguments=["r1:1"]))
    stats = await client.protocol.send_request_async("dllm/stats", {})
    assert stats.documents >= 1


async def test_huge_document(client: LanguageClient):
    uri = "file:///e2e/huge.py"
    text = "value = compute(1)  # ü\n" * 150_000  # ~3.6 MB
    client.text_document_did_open(open_params(uri, text))
    client.text_document_did_change(change_params(uri, 2, (75_000, 0), (75_000, 0), "z = \n"))
    items = await inline(client, uri, 75_000, 4)
    assert items[0].insert_text == "value + 1"


async def test_model_error_mid_request(client: LanguageClient):
    uri = "file:///e2e/raise.py"
    client.text_document_did_open(open_params(uri, "#fake:raise\nx = \n"))
    assert await inline(client, uri, 1, 4) == []
    await eventually(lambda: any("fake engine exploded" in m.message for m in client.messages))


async def test_configuration_changes(client: LanguageClient):
    uri = "file:///e2e/config.py"
    client.text_document_did_open(open_params(uri, "x = \n"))
    client.messages.clear()
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"dllm": {"enabled": False, "noSuchKey": 1, "maxLines": "many"}}))
    warnings = await eventually(lambda: [m.message for m in client.messages if m.type == lsp.MessageType.Warning])
    assert any("noSuchKey" in w for w in warnings) and any("maxLines" in w for w in warnings)
    assert await inline(client, uri, 0, 4) == []
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"dllm": {"enabled": True, "model": "/no/such/checkpoint"}}))
    await eventually(lambda: any(m.type == lsp.MessageType.Error and "/no/such/checkpoint" in m.message
                                 for m in client.messages))
    assert await inline(client, uri, 0, 4) == []
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings={"dllm": {"model": None}}))
    stats = await client.protocol.send_request_async("dllm/stats", {})  # right after: the change is in effect
    assert stats.model_error is None and (stats.loading or stats.model is not None)
    items = await eventually(lambda: inline(client, uri, 0, 4))
    assert items[0].insert_text == "value + 1"


async def test_configuration_pulled_when_the_change_carries_none(client: LanguageClient):
    uri = "file:///e2e/pull.py"
    client.text_document_did_open(open_params(uri, "x = \n"))
    client.set_configuration({"enabled": False}, section="dllm")
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
    await eventually(lambda: _disabled(client))
    assert await inline(client, uri, 0, 4) == []
    client.set_configuration({"enabled": True}, section="dllm")
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
    assert await eventually(lambda: inline(client, uri, 0, 4))


async def _disabled(client) -> bool:
    return not (await client.protocol.send_request_async("dllm/stats", {})).enabled
