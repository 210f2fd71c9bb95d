"""`dllm-lsp --model DIR` serves a checkpoint of each published diffusion family (tiny random weights,
laid out as the family publishes it): initialize, an inline completion, the stats name the family."""

import pytest
from lsp_helpers import RawClient

from dllm_complete.dllm.published import FAMILIES, published_checkpoint

pytestmark = pytest.mark.asyncio
URI = "file:///codes/a.py"


@pytest.mark.parametrize("family", FAMILIES)
async def test_serves_each_family(tmp_path, family):
    path = published_checkpoint(tmp_path / family, family)
    raw = await RawClient.start("--model", str(path), fake=False)
    try:
        init = await raw.request(1, "initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        assert "inlineCompletionProvider" in init["result"]["capabilities"]
        raw.notify("initialized", {})
        raw.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                             "text": "def add(a, b):\n    return \n"}})
        inline = await raw.request(2, "textDocument/inlineCompletion", {
            "textDocument": {"uri": URI}, "position": {"line": 1, "character": 11}, "context": {"triggerKind": 1}})
        assert isinstance(inline["result"]["items"], list)
        stats = (await raw.request(3, "dllm/stats", {}))["result"]
        assert stats["model"]["family"] == family and stats["scheduler"]["failed"] == 0
        assert stats["scheduler"]["served"] >= 1
        await raw.request(4, "shutdown", None)
        raw.notify("exit", None)
        assert await raw.wait() == 0
    finally:
        await raw.close()
