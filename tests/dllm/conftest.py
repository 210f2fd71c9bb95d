import pytest

from dllm_complete import dllm
from dllm_complete.dllm.testing import tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_ar_dir(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny-ar"), kind="ar")


@pytest.fixture()
def engine(tiny_dir):
    return dllm.load(str(tiny_dir))
