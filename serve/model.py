"""The model behind the team server: loaded on a thread at start-up (the interpreter's main thread
never runs torch: see docs/serving.md), warmed up, then answered through a `Batcher` (a diffusion
model, `max_batch` > 1) or `Serial`; its status for /health."""

from __future__ import annotations

import threading

from dllm_complete.dllm.contract import SamplerConfig, describe, warm_up
from dllm_complete.lsp_server import telemetry

LOAD_JOIN_S = 300.0  # a model load cannot be stopped: at exit, wait this long for one under way


class Model:
    """The engine behind the app: loaded on a thread at start-up; `status` loading / ok / error."""

    def __init__(self, model: str | None, device: str | None, max_batch: int, load=None) -> None:
        self.model, self.device, self.max_batch, self.load = model, device, max_batch, load
        self.batcher = None
        self.error: str | None = None
        self.base = SamplerConfig()
        self.observe = None  # the batcher's callback per round (the app's metrics)
        self.thread = threading.Thread(target=self._load, name="dllm-serve-load", daemon=True)

    @property
    def status(self) -> str:
        return "ok" if self.batcher is not None else "error" if self.error else "loading"

    def unavailable(self) -> str:
        """Why requests cannot be served yet (llama.cpp's words while loading)."""
        return "Loading model" if self.status == "loading" else f"model failed: {self.error}"

    def _load(self) -> None:
        try:
            from dllm_complete import dllm
            from dllm_complete.dllm.batch import Batcher, Serial
            from dllm_complete.dllm.engine import Engine

            engine = (self.load or dllm.load)(self.model, device=self.device)
            self.base = engine.sampler
            batched = isinstance(engine, Engine) and self.max_batch > 1
            batcher = Batcher(engine, self.max_batch, observe=self.observe) if batched else Serial(engine)
            try:
                warm_up(batcher)
            except BaseException:
                batcher.close()
                raise
            self.batcher = batcher
            telemetry.get().info("model_loaded", **batcher.info)
        except Exception as exc:  # noqa: BLE001 - a bad directory, a missing file...: /health says so
            self.error = describe(exc)
            telemetry.get().error("model_failed", error=self.error)

    def close(self) -> None:
        """Wait for a load under way (the interpreter must not exit inside torch), then stop the batcher."""
        if self.thread.is_alive():
            self.thread.join(LOAD_JOIN_S)
        if self.batcher is not None:
            self.batcher.close()
