"""Fixtures of the editor-client tests (helpers live in client_helpers.py)."""

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    testing = pytest.importorskip("dllm_complete.dllm.testing", reason="dllm.testing (tiny checkpoints) is not available")
    return str(testing.tiny_checkpoint(tmp_path_factory.mktemp("editor-clients") / "tiny"))
