"""Fixtures of the editor-client tests (helpers live in client_helpers.py)."""

import pytest

from dllm_complete.dllm.testing import tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(tiny_checkpoint(tmp_path_factory.mktemp("editor-clients") / "tiny"))
