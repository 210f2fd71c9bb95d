"""`RemoteInfiller`: a `dllm.contract.Infiller` that asks a team server (`dllm-serve`) instead of a
local model, for `dllm-lsp --remote URL`. Standard library only (http.client), no torch.

Each infill is one `POST {url}/dllm/infill`. While it waits for the answer a watcher polls the
request's `CancelToken`; a cancelled request shuts its connection down (the server notices the disconnect and
stops the model work between denoising steps) and raises `Cancelled`. Every request carries this
process's `X-Client-Id`, so the server also cancels an older request of ours when a newer one
arrives. Errors are one line and name the server: `ValueError` for a request the server refuses
(400), `ConnectionError` when it cannot be reached, `TimeoutError`, else `RuntimeError`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import msgspec

from dllm_complete.dllm.contract import Cancelled, CancelToken, Completion, Constraint, SamplerConfig, Stats, unread

from . import __version__

CLIENT_ID = uuid.uuid4().hex  # one per process: the server keeps only our newest request running
POLL_S = 0.02  # how often a waiting request looks at its CancelToken
CONNECT_S = 5.0
LOAD_WAIT_S = 60.0  # how long `connect` waits for a server that is still loading its model
MAX_BODY = 1 << 20  # dllm-serve's default body limit: a larger request goes without the whole file


def check_url(url: str) -> str:
    """`url` without a trailing slash; ValueError (one line) unless it is http(s)://host[:port][/path],
    with no user or password (URLs are logged; a key goes by --api-key or key_env), query or #fragment
    (a request path would end there). The one check of a server URL: `--remote`, the arenas' backends."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"bad server URL {url!r}: the port is not a number from 0 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"bad server URL {url!r}: expected http(s)://HOST[:PORT][/PATH]")
    if parts.query or "#" in url or "@" in parts.netloc:
        raise ValueError(f"bad server URL {url!r}: no user, password, query or #fragment "
                         "(give a key by --api-key or key_env)")
    return url.strip().rstrip("/")


def check_api_key(key: str | None) -> str | None:
    """`key` without surrounding blanks (a key read from a file keeps its newline), None if empty;
    ValueError (one line, never showing the key) if a header cannot carry it."""
    key = (key or "").strip()
    if any(not "!" <= ch <= "~" for ch in key):
        raise ValueError("the API key holds a blank, a control or a non-ASCII character, which an HTTP header "
                         "cannot carry (the key is not shown)")
    return key or None


@contextlib.contextmanager
def _shut_on_cancel(conn: http.client.HTTPConnection, cancel: CancelToken | None):
    """While the body runs, a cancelled token shuts the connection's socket down, so that a read
    blocked on it ends at once (plain or TLS alike)."""
    if cancel is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(POLL_S):
            if cancel.cancelled and conn.sock is not None:  # cancelled while connecting: once connected
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
    watcher = threading.Thread(target=watch, name="dllm-remote-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _scope_fields(constraint: Constraint | None) -> dict[str, Any]:
    """The scope check's request fields: whether to run it, and the whole file it judges names against
    (the server sees only the window otherwise, where names defined beyond it would count as missing;
    `grammars.constraint_for` gives a file longer than dllm-serve's default limit no scope check)."""
    check = getattr(constraint, "scope", None)  # `grammars.combined.Combined` holds one
    if check is None or check.document is None:
        return {"scope": False}
    return {"scope": True, "document": check.document}


def _encoded(body: Any) -> bytes:
    """JSON as UTF-8: text stays itself (escaped, a CJK character takes 6 bytes and an emoji 12); escaped
    where it holds a lone surrogate, which UTF-8 cannot carry."""
    try:
        return json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(body).encode()


def _reason(exc: BaseException) -> str:
    lines = str(getattr(exc, "strerror", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class RemoteInfiller:
    """Infills from a `dllm-serve` at `url` (`Authorization: Bearer api_key` when a key is given)."""

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = check_url(url)
        parts = urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._host, self._port, self._base = parts.hostname, parts.port, parts.path
        self.api_key = check_api_key(api_key)
        self.timeout_s = timeout_s
        self.sampler = SamplerConfig()  # the server's defaults are the same measured ones
        self._meta: dict[str, Any] | None = None
        self._idle: list[http.client.HTTPConnection] = []  # kept alive between requests
        self._lock = threading.Lock()

    # --- the Infiller protocol ----------------------------------------------------------------

    @property
    def info(self) -> dict[str, Any]:
        """The server's model (`GET /v1/models`, asked once), and `remote`: the server's URL."""
        if self._meta is None:
            try:
                self._meta = self._models()
            except Exception:  # noqa: BLE001 - info is descriptive; `connect` reports failures
                return {"remote": self.url}
        return {**self._meta, "remote": self.url}

    def infill(self, prefix: str, suffix: str, *, language: str | None = None, mode: str = "single",
               max_tokens: int | None = None, cancel: CancelToken | None = None,
               constraint: Constraint | None = None, sampler: SamplerConfig | None = None) -> Completion:
        settings = msgspec.to_builtins(sampler) if sampler is not None else {}
        for name in unread(settings, (self._meta or {}).get("kind")):  # what the server's model (as `connect`
            del settings[name]  # found it) never reads, it refuses: the language server warned they do nothing
        body = {"prefix": prefix, "suffix": suffix, "language": language, "mode": mode, "max_tokens": max_tokens,
                "sampler": settings,
                "syntax": constraint is not None, **_scope_fields(constraint)}
        data = _encoded(body)
        if "document" in body and len(data) > MAX_BODY:  # the server would refuse it all (413)
            data = _encoded({**body, "scope": False, "document": None})
        answer = self._call("POST", "/dllm/infill", data, cancel)
        try:
            return Completion(text=answer["text"], stats=msgspec.convert(answer["stats"], Stats))
        except (KeyError, TypeError, msgspec.ValidationError) as exc:
            raise RuntimeError(f"{self.url}: not a dllm-serve answer ({_reason(exc)})") from None

    # --- start-up -----------------------------------------------------------------------------

    def connect(self, wait_s: float = LOAD_WAIT_S) -> dict[str, Any]:
        """Check that the server is up (waiting up to `wait_s` while it loads its model) and that it
        takes our key; the `info`. Raises ConnectionError / RuntimeError with one line."""
        deadline = time.monotonic() + wait_s
        while True:
            status, answer = self._exchange("GET", "/health", None, None, CONNECT_S)
            if status == 200:
                break
            if status == 500:
                raise RuntimeError(f"{self.url}: the server could not load its model: {self._message(status, answer)}")
            if status != 503:
                raise RuntimeError(f"{self.url}: not a dllm-serve server? GET /health: {self._message(status, answer)}")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{self.url}: the server is still loading its model after {wait_s:g} s")
            time.sleep(0.5)
        self._meta = self._models()
        return self.info

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # --- HTTP ---------------------------------------------------------------------------------

    def _models(self) -> dict[str, Any]:
        answer = self._call("GET", "/v1/models", None, None, CONNECT_S)
        try:
            return dict(answer["data"][0]["meta"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise RuntimeError(f"{self.url}: GET /v1/models did not describe a model") from None

    def _call(self, method: str, path: str, data: bytes | None, cancel: CancelToken | None,
              timeout_s: float | None = None) -> Any:
        """The answer's JSON; raises on an HTTP error (`Cancelled` for 499, the server's cancel)."""
        status, answer = self._exchange(method, path, data, cancel, timeout_s)
        if status == 200:
            return answer
        if status == 499:
            raise Cancelled()
        message = self._message(status, answer)
        if status == 401:
            message += ("; the server wants an API key: set DLLM_API_KEY (or --api-key)" if not self.api_key
                        else "; the server refused the key given")
        raise (ValueError if status == 400 else RuntimeError)(f"{self.url}: {message}")

    @staticmethod
    def _message(status: int, answer: Any) -> str:
        error = answer.get("error") if isinstance(answer, dict) else None
        text = error.get("message") if isinstance(error, dict) else None
        if text is None and isinstance(answer, dict):
            text = answer.get("detail")  # FastAPI's own 404 / 405
        line = str(text).strip().splitlines()[0] if text and str(text).strip() else "no reason given"
        return f"{line} (HTTP {status})"

    def _exchange(self, method: str, path: str, data: bytes | None, cancel: CancelToken | None,
                  timeout_s: float | None = None) -> tuple[int, Any]:
        """(status, JSON body or None) of one request with the JSON `data` (`_encoded`), on a kept-alive
        connection where there is one (retried once on a fresh one if the server had closed it meanwhile);
        a redirect is not followed (it would carry the key elsewhere): its answer says where it pointed."""
        headers = {"X-Client-Id": CLIENT_ID, "User-Agent": f"dllm-lsp/{__version__}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key and path != "/health":  # /health is open: the key goes only where it is needed
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(2):
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            conn, reused = self._connection()
            try:
                with _shut_on_cancel(conn, cancel):
                    conn.request(method, self._base + path, body=data, headers=headers)
                    conn.sock.settimeout(timeout_s or self.timeout_s)
                    resp = conn.getresponse()
                    raw = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                connected = conn.sock is not None
                conn.close()
                if cancel is not None and cancel.cancelled:
                    raise Cancelled() from None  # the server sees the disconnect and stops the model work
                if isinstance(exc, TimeoutError):
                    if not connected:
                        raise ConnectionError(f"cannot reach the dllm server at {self.url}: timed out") from None
                    raise TimeoutError(f"{self.url}: no answer within {self.timeout_s:g} s") from None
                if isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    if reused and attempt == 0:
                        continue  # an idle connection the server had closed
                    raise ConnectionError(f"{self.url}: the server closed the connection ({_reason(exc)})") from None
                raise ConnectionError(f"cannot reach the dllm server at {self.url}: {_reason(exc)}") from None
            if resp.will_close:
                conn.close()
            else:
                self._keep(conn)
            if 300 <= resp.status < 400:
                where = resp.getheader("Location", "nowhere")
                return resp.status, {"error": {"message": f"redirected to {where}, not followed: give that URL"}}
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                kind = resp.getheader("Content-Type", "no content type")
                raise RuntimeError(f"{self.url}: not a dllm-serve answer (HTTP {resp.status}, {kind})") from None
        raise AssertionError("unreachable")

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=CONNECT_S,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=CONNECT_S)
        return conn, False

    def _keep(self, conn: http.client.HTTPConnection) -> None:
        conn.sock.settimeout(CONNECT_S)
        with self._lock:
            if len(self._idle) < 2:
                self._idle.append(conn)
                return
        conn.close()
