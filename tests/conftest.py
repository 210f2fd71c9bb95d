"""Fixtures shared across the test folders."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module: a 64-wide test model gains nothing from threads, and a busy
    machine loses (use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
