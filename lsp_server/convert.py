"""LSP wire types (lsprotocol) <-> the plain values the pipeline works with.

Owns the shape of what the editor sees: one `InlineCompletionItem` per suggestion (with a
`dllm.accepted` command carrying the suggestion id, so accepting it can be logged), and for
clients without inline completion a `CompletionItem` whose text edit inserts the suggestion from
the start of the word at the cursor, with a short readable label. No logic beyond the mapping.
"""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types as lsp

from .completion import Request, Suggestion

ACCEPT_COMMAND = "dllm.accepted"
LABEL_CHARS = 60


def position(p: lsp.Position) -> tuple[int, int]:
    return p.line, p.character


def _pos(p: tuple[int, int]) -> lsp.Position:
    return lsp.Position(line=p[0], character=p[1])


def changes(params: lsp.DidChangeTextDocumentParams) -> list[tuple[Any, str]]:
    """Content changes as (range or None for the whole document, text)."""
    out = []
    for change in params.content_changes:
        rng = getattr(change, "range", None)
        out.append((None if rng is None else (position(rng.start), position(rng.end)), change.text))
    return out


def inline_request(params: lsp.InlineCompletionParams, request_id: Any) -> Request:
    ctx = params.context
    selected = None
    if ctx is not None and ctx.selected_completion_info is not None:
        info, at = ctx.selected_completion_info, params.position
        start, end = info.range.start, info.range.end
        if start.line == end.line == at.line and start.character <= at.character <= end.character:  # else ignored
            selected = (position(start), position(end), info.text)
    invoked = ctx is not None and ctx.trigger_kind == lsp.InlineCompletionTriggerKind.Invoked
    return Request(params.text_document.uri, params.position.line, params.position.character,
                   invoked, "inline", request_id, selected)


def completion_request(params: lsp.CompletionParams, request_id: Any) -> Request:
    ctx = params.context
    invoked = ctx is None or ctx.trigger_kind == lsp.CompletionTriggerKind.Invoked
    return Request(params.text_document.uri, params.position.line, params.position.character,
                   invoked, "completion", request_id)


def inline_result(suggestions: list[Suggestion]) -> lsp.InlineCompletionList:
    return lsp.InlineCompletionList(items=[
        lsp.InlineCompletionItem(
            insert_text=s.text, range=lsp.Range(start=_pos(s.start), end=_pos(s.end)),
            command=lsp.Command(title="dllm: accepted", command=ACCEPT_COMMAND, arguments=[s.id]))
        for s in suggestions])


def label(text: str) -> str:
    """First non-blank line, shortened for a menu."""
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    more = " …" if len(text.strip().splitlines()) > 1 else ""
    return (first if len(first) <= LABEL_CHARS else first[: LABEL_CHARS - 1] + "…") + more


def fenced(text: str) -> str:
    """`text` as a markdown code block, its fence longer than any run of backticks inside it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}\n{text}\n{fence}"


def completion_result(suggestions: list[Suggestion], markdown: bool = False) -> lsp.CompletionList:
    """A menu entry per suggestion, replacing the identifier part already typed before the cursor.

    The full suggestion goes in the documentation (as a code block where the client renders markdown).
    """
    items = []
    for rank, s in enumerate(suggestions):
        new_text = s.word + s.text
        doc = lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=fenced(new_text)) if markdown else new_text
        items.append(lsp.CompletionItem(
            label=label(new_text), kind=lsp.CompletionItemKind.Text, detail="dllm", documentation=doc,
            sort_text=f"0{rank}", filter_text=new_text, insert_text_format=lsp.InsertTextFormat.PlainText,
            text_edit=lsp.TextEdit(range=lsp.Range(start=_pos(s.word_start), end=_pos(s.end)), new_text=new_text),
            command=lsp.Command(title="dllm: accepted", command=ACCEPT_COMMAND, arguments=[s.id])))
    return lsp.CompletionList(is_incomplete=True, items=items)
