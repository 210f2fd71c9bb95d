"""End to end with the embedded default model, where an editor leaves the cursor: after the
indentation it typed, and inside a word being typed."""

import pytest
import pytest_lsp
from lsp_helpers import inline_params, open_params, server_command, server_env
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

in_module_loop = pytest.mark.asyncio(loop_scope="module")

SOURCE = '''import os


def list_python_files(root):
    """Return the paths of all .py files under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            {cursor}
    return found
'''


@pytest_lsp.fixture(scope="module",
                    config=ClientServerConfig(server_command=server_command(), server_env=server_env(fake=False)))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(), initialization_options={"dllm": {"debounceMs": 0}}))
    yield
    await lsp_client.shutdown_session()


@in_module_loop
@pytest.mark.parametrize("typed", ["", "ret"])
async def test_the_answer_continues_what_was_typed(client: LanguageClient, typed: str):
    uri = f"file:///default/typed_{typed or 'indent'}.py"
    client.text_document_did_open(open_params(uri, SOURCE.format(cursor=typed)))
    line, column = 8, 12 + len(typed)
    result = await client.text_document_inline_completion_async(inline_params(uri, line, column, invoked=True))
    assert result.items
    for item in result.items:
        assert item.range.start == lsp.Position(line, column)
        assert not item.insert_text[:1].isspace()  # the typed indentation is not written again
        assert not typed or item.insert_text[:1].isalnum()  # the cut word goes on (`return`)
    assert not [m for m in client.messages if m.type == lsp.MessageType.Error]
