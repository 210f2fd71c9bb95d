"""End to end with the real engine on the tiny trained checkpoint: load, complete, check, cancel."""

import subprocess

import pytest

testing = pytest.importorskip("dllm_complete.dllm.testing", reason="dllm.testing (tiny checkpoints) is not available yet")

import pytest_lsp  # noqa: E402
from lsp_helpers import completion_params, inline_params, open_params, server_command, server_env  # noqa: E402
from lsprotocol import types as lsp  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

from dllm_complete.lsp_server.engine_host import EngineHost, Job, LoadError  # noqa: E402
from dllm_complete.lsp_server.scheduler import Scheduler, Superseded  # noqa: E402

in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(testing.tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt"))


@pytest_lsp.fixture(scope="module",
                    config=ClientServerConfig(server_command=server_command(), server_env=server_env(fake=False)))
async def client(lsp_client: LanguageClient, tiny: str):
    caps = lsp.ClientCapabilities(general=lsp.GeneralClientCapabilities(position_encodings=["utf-8", "utf-16"]))
    lsp_client.init_result = await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=caps, initialization_options={"model": tiny, "maxTokensMulti": 16,
                                                          "scope": False}))  # the tiny model's names are noise
    yield
    await lsp_client.shutdown_session()


@in_module_loop
async def test_real_engine_serves_requests(client: LanguageClient):
    assert client.init_result.capabilities.position_encoding == "utf-8"
    uri = "file:///tiny/a.py"
    client.text_document_did_open(open_params(uri, "# ü\ndef add(a, b):\n    return \n\n"))
    auto = await client.text_document_inline_completion_async(inline_params(uri, 2, 11))
    invoked = await client.text_document_inline_completion_async(inline_params(uri, 3, 0, invoked=True))
    menu = await client.text_document_completion_async(completion_params(uri, 2, 11))
    assert isinstance(auto, lsp.InlineCompletionList) and isinstance(menu, lsp.CompletionList)
    assert len(invoked.items) <= 3
    items = [*auto.items, *invoked.items]
    assert items  # the tiny model answers: the checks below run on something
    for item in items:
        assert item.range.start.line in (2, 3) and item.insert_text.strip()
    stats = await client.protocol.send_request_async("dllm/stats", {})
    assert stats.model.model == "tiny-diffusion" and stats.scheduler.failed == 0
    assert stats.scheduler.served >= 2
    assert not [m for m in client.messages if m.type == lsp.MessageType.Error]


@in_module_loop
async def test_engine_honours_the_cancel_token(tiny: str):
    host, sched = EngineHost(), Scheduler()
    try:
        await sched.call(host.load, tiny, None)
        job = Job("def f(x):\n", "\n", "python", "/t.py", "multi", 64)

        def cancelled_run(token):
            token.cancel()
            return host.infill(job, token, {})
        with pytest.raises(Superseded):
            await sched.run("doc", cancelled_run)
        result = await sched.run("doc", lambda token: host.infill(job, token, {}))
        assert len(result) == 1 and isinstance(result[0][0], str)
    finally:
        sched.close()


def test_check_reports_the_real_model(tiny: str):
    out = subprocess.run(server_command("--check", "--model", tiny), env=server_env(fake=False),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "tiny-diffusion" in out.stdout and "device: cpu" in out.stdout and "warm-up:" in out.stdout


def test_broken_checkpoint_gives_a_one_line_reason(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    host = EngineHost()
    with pytest.raises(LoadError) as err:
        host.load(str(tmp_path), None)
    assert "\n" not in str(err.value) and host.error and not host.ready
