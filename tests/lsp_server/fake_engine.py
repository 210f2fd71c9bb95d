"""A stand-in engine with the real engine's interface (`dllm.contract.Infiller`), steered by markers
in the prefix.

Used by the end-to-end tests through `DLLM_LSP_ENGINE=<this file>:load`, so protocol behaviour is
tested without model weights. Markers (anywhere in the prefix; a later one overrides an earlier):
  `#fake:text=ABC`  answer ABC (`\\n` escapes allowed)     `#fake:raise`  raise mid-request
  `#fake:delay=MS`  take MS milliseconds in 10 ms steps, polling the cancel token between steps
  `#fake:slow`      the same as delay=3000
"""

from __future__ import annotations

import os
import re
import time

from dllm_complete.dllm.contract import Cancelled, Completion, SamplerConfig, Stats


class FakeEngine:
    def __init__(self, model: str | None) -> None:
        self.sampler = SamplerConfig()
        self.info = {"model": f"fake:{model or 'default'}", "device": "cpu", "dtype": "float32", "params": 1000}
        self.calls = 0

    def infill(self, prefix, suffix, *, language=None, mode="single", max_tokens=None, cancel=None,
               constraint=None, sampler=None):
        self.calls += 1
        t0 = time.perf_counter()
        opts = dict(re.findall(r"#fake:(\w+)(?:=([^\n]*))?", prefix))
        if "raise" in opts:
            raise RuntimeError("fake engine exploded")
        delay_ms = float(opts.get("delay") or (3000 if "slow" in opts else 0))
        for _ in range(max(1, int(delay_ms // 10))):
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            if delay_ms:
                time.sleep(0.01)
        if "text" in opts:
            text = opts["text"].replace("\\n", "\n")
        elif mode == "multi":
            text = "x = 1\n    return x"
        else:
            text = "value + 1"
        if sampler is not None and sampler.seed:
            text = f"{text} # alt {sampler.seed}"
        stats = Stats(nfe=1, steps=1, tokens=1, timings_ms={"total": (time.perf_counter() - t0) * 1000})
        return Completion(text=text, stats=stats)


def load(model: str | None = None, device: str | None = None) -> FakeEngine:
    if model is not None and not os.path.isdir(model):
        raise ValueError(f"no checkpoint directory at {model}")
    return FakeEngine(model)
