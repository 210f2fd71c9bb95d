"""The published diffusion model families, and the conventions each one's authors run it with.

A checkpoint directory names its family in config.json (`model_type`) and its tokenizer (special tokens
such as DiffuCoder's `<|dlm_pad|>` or DreamOn's `<|expand|>`); the family, never the user's flags,
decides whether position i predicts token i+1 (`logits_shift`), which token is the
mask, which fills the unused slots of the middle (our end-of-middle), which end a completion, what
stands before a prefix that starts the file and after a suffix that ends it, and whether the canvas
may change length while it is denoised (DreamOn). docs/models.md has the sources for every value.
"""

from __future__ import annotations

import dataclasses


class UnsupportedCheckpoint(ValueError):
    """A checkpoint of a family or layout this project does not run (one line, naming what was found)."""


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    logits_shift: bool  # position i predicts token i+1 (Dream's convention: logits[i - 1] scores slot i)
    mask: str  # the mask token's text, where config.json gives no mask_token_id
    filler: str  # what the model writes in unused slots of the middle: our end-of-middle
    stops: tuple[str, ...] = ()  # more tokens that end a middle (an instruct model's end of turn)
    bos: str | None = None  # before a prefix that starts the file
    eos: str | None = None  # after a suffix that ends the file
    expand: str | None = None  # DreamOn: a committed one becomes two masks; a committed filler is deleted


DREAM = Family("dream", True, mask="<|mask|>", filler="<|endoftext|>",
               stops=("<|im_end|>",), bos="<|beginoftext|>", eos="<|endoftext|>")
FAMILIES = {
    "dream": DREAM,  # Dream-v0, Dream-Coder, DiffuCoder-Base: model_type "Dream"
    "diffucoder": dataclasses.replace(DREAM, name="diffucoder", filler="<|dlm_pad|>",
                                      stops=("<|endoftext|>", "<|im_end|>")),  # its instruct models pad with <|dlm_pad|>
    "dreamon": dataclasses.replace(DREAM, name="dreamon", expand="<|expand|>"),  # delete = <|endoftext|>
    "open-dcoder": Family("open-dcoder", True, mask="<M>", filler="<|endoftext|>",
                          stops=("<|im_end|>",), eos="<|endoftext|>"),
    "llada": Family("llada", False, mask="<|mdm_mask|>", filler="<|endoftext|>",
                    stops=("<|eot_id|>",), bos="<|startoftext|>", eos="<|endoftext|>"),
    "coda": Family("coda", True, mask="<|mask|>", filler="<|endoftext|>",
                   stops=("<|im_end|>",), eos="<|endoftext|>"),
}
# dllm-complete's own checkpoints (config.json's "dllm" section gives every id)
OWN = Family("dllm-complete", False, mask="<|mask|>", filler="<|eom|>")
SUPPORTED = "Dream, Dream-Coder, DiffuCoder, DreamOn, Open-dCoder, LLaDA, CoDA and dllm-complete's own"


def detect(cfg: dict, vocab: dict[str, int]) -> Family:
    """The family of a checkpoint from its config.json and its tokenizer's vocabulary (text -> id)."""
    if "dllm" in cfg:
        return dataclasses.replace(OWN, logits_shift=bool(cfg["dllm"].get("logits_shift", False)))
    mtype = str(cfg.get("model_type", "")).lower()
    archs = ", ".join(cfg.get("architectures") or []) or "none"
    if mtype == "dream":
        if "expand_token_id" in cfg or "<|expand|>" in vocab:
            return FAMILIES["dreamon"]
        return FAMILIES["diffucoder" if "<|dlm_pad|>" in vocab else "dream"]
    if mtype == "llada":
        return FAMILIES["llada"]
    if mtype == "coda":
        return FAMILIES["coda"]
    if mtype == "qwen2" and "<M>" in vocab:
        return FAMILIES["open-dcoder"]
    has_mask = "mask_token_id" in cfg or any(f.mask in vocab for f in FAMILIES.values())
    what = "an autoregressive model (no mask token)" if not has_mask else "a layout we do not know"
    raise UnsupportedCheckpoint(f"model_type {cfg.get('model_type')!r} (architectures: {archs}) looks like {what}; "
                                f"supported: {SUPPORTED}")
