"""dllm: infill code at the cursor with a masked-diffusion language model.

    from dllm_complete import dllm
    engine = dllm.load()                       # the embedded default model, or dllm.load("path/to/ckpt")
    engine.infill(prefix, suffix, mode="single").text

`import dllm` stays light: torch and the model code load on first use of `load` or the engine types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Engine": "engine", "ARDecoder": "ar", "SamplerConfig": "contract", "CancelToken": "contract",
    "Cancelled": "contract", "Constraint": "contract", "Completion": "contract", "Stats": "contract",
    "Infiller": "contract", "MODES": "contract",
    "CheckpointError": "checkpoint", "DEFAULT_MODEL": "checkpoint", "load_checkpoint": "checkpoint", "testing": None,
}

if TYPE_CHECKING:
    from .ar import ARDecoder
    from .contract import SamplerConfig
    from .engine import Engine


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'dllm' has no attribute {name!r}")
    if _LAZY[name] is None:
        return importlib.import_module(f".{name}", __name__)
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


def load(model: str | None = None, *, device: str | None = None, dtype: str | None = None,
         sampler: "SamplerConfig | None" = None, kernels: str = "auto",
         graphs: str = "auto") -> "Engine | ARDecoder":
    """An infill engine for a checkpoint directory (None = the embedded default model).

    kernels: "auto" | "triton" | "torch" | "off" (the fused ops of `kernels/` and stacked projections;
    off = the first version: plain logits, the model's own attention, separate projections);
    graphs: "auto" | "on" | "off" (CUDA graphs of the forwards; auto = where a probe at load is faster).
    """
    from .ar import ARDecoder
    from .engine import Engine
    from .checkpoint import DEFAULT_MODEL, load_checkpoint
    from .contract import SamplerConfig

    if sampler is not None and not isinstance(sampler, SamplerConfig):  # before the load, not at the first infill
        raise TypeError(f"sampler must be a SamplerConfig (or None), got {type(sampler).__name__}; "
                        "SamplerConfig().with_overrides({...}) makes one from a dict")
    loaded = load_checkpoint(model or DEFAULT_MODEL, device=device, dtype=dtype)
    cls = ARDecoder if loaded.spec.kind == "ar" else Engine
    return cls(loaded, sampler=sampler, kernels=kernels, graphs=graphs)
