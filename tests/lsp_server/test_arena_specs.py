"""Arena backend specs (`arena.backends`): what each one names, and one-line errors for bad ones."""

import pytest

from dllm_complete.lsp_server.arena import parse


@pytest.mark.parametrize("spec, expected", [
    ("dllm", ("dllm", "dllm", None, {})),
    ("fast@dllm?threshold=0.5&block_size=0", ("fast", "dllm", None, {"threshold": 0.5, "block_size": 0})),
    ("ar@model:ar-code-small", ("ar", "model", "ar-code-small", {})),
    ("infill:http://127.0.0.1:8012", ("infill:http://127.0.0.1:8012", "infill", "http://127.0.0.1:8012", {})),
    ("gpt@openai:https://h/v1?model=m", ("gpt", "openai", "https://h/v1", {"model": "m"})),
])
def test_backend_specs(spec, expected):
    c = parse(spec)
    assert (c.label, c.kind, c.target, c.options) == expected


@pytest.mark.parametrize("spec", ["llama:http://x", "dllm:somewhere", "model", "infill:ftp://x", "openai:localhost:8000",
                                  "dllm?x=1", "b@dllm?threshold=2", "ar@model:ar-code-small?temperature=-1"])
def test_bad_backend_specs_are_one_line_errors(spec):
    with pytest.raises(ValueError) as info:
        parse(spec)
    assert spec in str(info.value) and "\n" not in str(info.value)


def test_a_bad_backend_keeps_the_previous_arena_settings():
    from dllm_complete.lsp_server.service import Service

    shown = []
    svc = Service(lambda kind, text: shown.append(text))
    try:
        svc.apply_settings({"arena": {"enabled": True, "backends": ["dllm", "x@model:m"]}}, load=False)
        svc.apply_settings({"arena": {"enabled": True, "backends": ["dllm", "bogus:x"]}}, load=False)
        assert svc.config.arena.backends == ["dllm", "x@model:m"]
        assert "bogus:x" in shown[-1] and "\n" not in shown[-1]
    finally:
        svc.close(5)


def test_an_http_backend_never_follows_a_redirect_with_its_key(monkeypatch):
    import http.server
    import threading
    import urllib.error

    from dllm_complete.lsp_server.arena import http_infill

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # the first server sends the client elsewhere
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{other.server_address[1]}/steal")
            self.end_headers()

        def do_GET(self):  # the elsewhere: must never see the key
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    first, other = (http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2))
    for server in (first, other):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ARENA_TEST_KEY", "s3cret")
    try:
        with pytest.raises(urllib.error.HTTPError, match="not followed"):
            http_infill(parse(f"infill:http://127.0.0.1:{first.server_address[1]}?key_env=ARENA_TEST_KEY"),
                        "x = ", "\n", 8, 5.0)
    finally:
        first.shutdown()
        other.shutdown()
    assert seen == []
