"""A real `dllm-serve` process on a free localhost port, for the end-to-end tests."""

import pytest
from serve_helpers import start, stop


@pytest.fixture(scope="module")
def server():
    """(url, process) of a server with the embedded default model."""
    proc, url = start()
    yield url, proc
    stop(proc)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from dllm_complete.dllm.testing import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("tiny"))
