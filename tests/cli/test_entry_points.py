"""The installed console scripts, run as a user runs them: from a directory outside the checkout.

They find the package through the installation alone (no PYTHONPATH, no repository on sys.path), so a
top-level name that another distribution shadows, or a file the wheel leaves out, fails here.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from dllm_complete.dllm.testing import tiny_checkpoint

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def script(name: str) -> str:
    path = BIN / name
    assert path.is_file(), f"{name} is not installed beside {sys.executable}: pip install -e ."
    return str(path)


def user_env() -> dict[str, str]:
    drop = {"PYTHONPATH", "TRITON_INTERPRET", "DLLM_LSP_ENGINE"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "OMP_NUM_THREADS": "1"}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=user_env(), timeout=180)


def test_dllm_complete_prints_a_completion_from_another_directory(tmp_path):
    out = run(script("dllm-complete"), f"{ROOT / 'examples' / 'stack.py'}:19", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip(), "the embedded model wrote nothing at the README's example"
    assert "Traceback" not in out.stderr


def test_dllm_complete_bad_input_is_one_line(tmp_path):
    out = run(script("dllm-complete"), "no_such_file.py:3", cwd=tmp_path)
    assert out.returncode != 0
    assert out.stderr.startswith("dllm-complete: error:") and len(out.stderr.strip().splitlines()) == 1


def test_dllm_lsp_version_from_another_directory(tmp_path):
    out = run(script("dllm-lsp"), "--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("dllm-lsp "), out.stderr


def test_dllm_lsp_serves_a_real_client_over_stdio(tmp_path):
    model = tiny_checkpoint(tmp_path / "model")
    uri = (tmp_path / "a.py").as_uri()

    async def session() -> tuple[lsp.InlineCompletionList | None, int]:
        client = LanguageClient("entry-point-test", "1")
        await client.start_io(script("dllm-lsp"), "--model", str(model), cwd=tmp_path, env=user_env())
        await client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(), initialization_options={"dllm": {"debounceMs": 0}}))
        client.initialized(lsp.InitializedParams())
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
            uri=uri, language_id="python", version=1, text="def add(a, b):\n    return \n")))
        result = await client.text_document_inline_completion_async(lsp.InlineCompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(1, 11),
            context=lsp.InlineCompletionContext(trigger_kind=lsp.InlineCompletionTriggerKind.Invoked)))
        await client.shutdown_async(None)
        client.exit(None)
        code = await asyncio.wait_for(client._server.wait(), 60)  # the server process pygls started
        await client.stop()
        return result, code

    result, code = asyncio.run(asyncio.wait_for(session(), 240))
    assert code == 0
    items = result.items if isinstance(result, lsp.InlineCompletionList) else result
    assert items and all(item.insert_text for item in items)
