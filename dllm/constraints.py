"""How both decoders apply a constraint (the protocol is in `contract.py`): its say on empty
answers (`sampler_for`) and the final cut (`finished`).
"""

from __future__ import annotations

import msgspec

from .canvas import Context
from .contract import Constraint
from .sampler import SamplerConfig


def sampler_for(cfg: SamplerConfig, constraint: Constraint | None, ctx: Context) -> SamplerConfig:
    """`cfg`; with `fill_broken`, `cfg` that must write something where the file without a completion is
    broken at the cursor."""
    if (constraint is None or not cfg.fill_broken or not cfg.allow_empty
            or not constraint.needs_text(ctx.judged_prefix + ctx.typed, ctx.judged_suffix)):
        return cfg
    return msgspec.structs.replace(cfg, allow_empty=False)


def finished(text: str, ctx: Context, constraint: Constraint | None) -> str:
    """The completion as returned: after the blanks typed already, cut back by the constraint (judging
    the file as the user has it), with the line end the cursor needs."""
    text = ctx.after_typed(text)
    if constraint is not None and text:
        text = constraint.finalize(ctx.judged_prefix + ctx.typed, text, ctx.judged_suffix)
    return ctx.ended(text)
