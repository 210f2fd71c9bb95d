"""The protocol in-process (`DllmProtocol.receive`, as the transports call it): pygls' bookkeeping
does not grow with notifications, a closed writer is dropped after one log line, and only a body
that is not JSON is answered with a parse error."""

import json

import pytest
from lsp_helpers import fake_engine_env  # noqa: F401 - a fixture
from structlog.testing import capture_logs

from dllm_complete.lsp_server.server import create

pytestmark = pytest.mark.asyncio
URI = "file:///protocol/a.py"


class Collect:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data.split(b"\r\n\r\n", 1)[1]))

    def close(self) -> None:
        pass


class Closed:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        raise ValueError("write to closed file")

    def close(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def body(method: str, params, msg_id=None) -> bytes:
    message = {"jsonrpc": "2.0", "method": method, "params": params}
    if msg_id is not None:
        message["id"] = msg_id
    return json.dumps(message).encode()


@pytest.fixture
def server(fake_engine_env):  # noqa: F811
    ls = create()
    yield ls
    assert ls.service.close(30)


async def test_notification_futures_are_released(server):
    protocol, out = server.protocol, Collect()
    protocol.set_writer(out)
    protocol.receive(body("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, 1))
    protocol.receive(body("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1, "text": ""}}))
    for i in range(2000):  # one keystroke each
        protocol.receive(body("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": i + 2},
            "contentChanges": [{"range": {"start": {"line": 0, "character": i}, "end": {"line": 0, "character": i}},
                                "text": "x"}]}))
    protocol.receive(body("dllm/stats", {}, 2))
    assert [m["id"] for m in out.sent] == [1, 2]
    assert out.sent[1]["result"]["documents"] == 1
    assert server.service.store.get(URI).text == "x" * 2000
    assert not protocol._request_futures  # pygls kept 2,001: one per notification


async def test_a_closed_writer_is_dropped_after_one_log_line(server):
    protocol, closed, lost = server.protocol, Closed(), []
    protocol.set_writer(closed)
    protocol.on_output_lost = lambda: lost.append(1)
    with capture_logs() as logs:
        protocol.receive(body("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, 1))
        for i in range(100):
            protocol.receive(body("dllm/stats", {}, i + 2))
        protocol.receive(b"{not json")  # its parse error would be one more failed write
    assert closed.writes == 1 and lost == [1]
    assert [entry["event"] for entry in logs if entry["log_level"] != "info"] == ["transport.closed", "server.error"]


@pytest.mark.parametrize("error, answered", [(json.JSONDecodeError("bad", "{", 0), True),
                                             (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), True),
                                             (ValueError("I/O operation on closed file"), False),
                                             (RuntimeError("boom"), False)])
async def test_only_a_body_that_is_not_json_is_answered_with_a_parse_error(server, error, answered):
    out = Collect()
    server.protocol.set_writer(out)
    with capture_logs():
        server.report_server_error(error, ValueError)
    assert [m["error"]["code"] for m in out.sent] == ([-32700] if answered else [])
