"""Tiny random checkpoints shared by the bench tests (written once per test session)."""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


@functools.lru_cache(maxsize=None)
def tiny_models() -> dict[str, Path]:
    """{"diffusion": dir, "ar": dir}: real checkpoint directories that `dllm.load` and transformers load."""
    from dllm_complete.dllm.testing import tiny_checkpoint

    root = Path(tempfile.mkdtemp(prefix="bench-tiny-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return {kind: tiny_checkpoint(root / kind, kind=kind) for kind in ("diffusion", "ar")}
