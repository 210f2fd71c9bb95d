"""The scope check through the language server: the `scope` setting turns it on, and `dllm/stats`
counts its checks, re-masks and time over the requests served (off by default: nothing counted)."""

import pytest
from lsp_helpers import RawClient

from dllm_complete.dllm.testing import tiny_checkpoint

pytestmark = pytest.mark.asyncio
URI = "file:///codes/a.py"


@pytest.mark.parametrize("scope", [True, False])
async def test_scope_setting_and_stats(tmp_path, scope):
    model = tiny_checkpoint(tmp_path / "tiny")
    raw = await RawClient.start("--model", str(model), fake=False)
    try:
        await raw.request(1, "initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                            "initializationOptions": {"scope": scope}})
        raw.notify("initialized", {})
        raw.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                             "text": "def add(a, b):\n    return \n"}})
        for i in range(3):
            await raw.request(2 + i, "textDocument/inlineCompletion", {
                "textDocument": {"uri": URI}, "position": {"line": 1, "character": 11}, "context": {"triggerKind": 1}})
        stats = (await raw.request(9, "dllm/stats", {}))["result"]
        assert stats["scheduler"]["served"] >= 1
        checks = stats["scope"]["scope_checks"]
        assert (checks >= 1 and stats["scope"]["scope_ms"] > 0) if scope else checks == 0
    finally:
        await raw.close()
