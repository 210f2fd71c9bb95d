"""dllm-serve: the team server. One model behind HTTP for many editors: llama.cpp's `/infill` (what
llama.vscode and llama.vim speak), OpenAI's `/v1/completions` with `suffix`, our own `/dllm/infill`
(what `dllm-lsp --remote` speaks), `/health` and Prometheus `/metrics`; requests batched across
clients (`dllm.batch`), and the same app as a Ray Serve deployment for more replicas."""
