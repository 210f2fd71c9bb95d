"""lsp_server: the `dllm-lsp` language server, inline completions from the in-process engine."""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("dllm-complete")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
