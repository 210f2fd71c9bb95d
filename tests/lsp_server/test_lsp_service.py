"""The request pipeline in process, against the fake engine: what gets served, and when nothing is."""

import asyncio

import pytest
import pytest_asyncio
from lsp_helpers import FAKE_ENGINE, change_params, completion_params, inline_params, open_params, rng
from lsprotocol import types as lsp

from dllm_complete.lsp_server import telemetry
from dllm_complete.lsp_server.service import Service

pytestmark = pytest.mark.asyncio
URI = "file:///work/demo.py"


@pytest_asyncio.fixture
async def svc(monkeypatch):
    monkeypatch.setenv("DLLM_LSP_ENGINE", FAKE_ENGINE)
    telemetry.configure()
    shown = []
    service = Service(lambda kind, text: shown.append((kind, text)))
    service.shown = shown
    service.initialize({"debounceMs": 0}, "utf-16")
    service.initialized()
    await service._load_task
    yield service
    service.scheduler.close()


async def inline(svc, uri, line, col, **kw):
    return (await svc.inline_completion(inline_params(uri, line, col, **kw), "r1")).items


async def test_served_at_the_cursor(svc):
    svc.did_open(open_params(URI, "def f(x):\n    y = \n"))
    items = await inline(svc, URI, 1, 8)
    assert [i.insert_text for i in items] == ["value + 1"]
    assert rng(items[0]) == ((1, 8), (1, 8))
    assert items[0].command.command == "dllm.accepted"


async def test_positions_after_emoji_are_utf16(svc):
    svc.did_open(open_params(URI, "s = '😀' + \n"))
    items = await inline(svc, URI, 0, 11)
    assert items and rng(items[0]) == ((0, 11), (0, 11))


async def test_text_typed_while_the_model_runs_is_replaced(svc):
    svc.did_open(open_params(URI, "#fake:delay=300\n#fake:text=value + 1\nx = \n"))
    task = asyncio.ensure_future(inline(svc, URI, 2, 4))
    await asyncio.sleep(0.05)
    svc.did_change(change_params(URI, 2, (2, 4), (2, 4), "va"))
    items = await task
    assert items[0].insert_text == "value + 1" and rng(items[0]) == ((2, 4), (2, 6))


async def test_edits_read_after_a_request_are_typed_after_its_position(svc):
    svc.did_open(open_params(URI, "#fake:text=value + 1\nx = \n"))
    answer = svc.inline_completion(inline_params(URI, 1, 4), "r1")  # read now, answered later
    svc.did_change(change_params(URI, 2, (1, 4), (1, 4), "va"))  # the client typed on after asking
    items = (await answer).items
    assert items[0].insert_text == "value + 1" and rng(items[0]) == ((1, 4), (1, 6))


async def test_typing_something_else_while_the_model_runs_drops_the_answer(svc):
    svc.did_open(open_params(URI, "#fake:delay=300\nx = \n"))
    task = asyncio.ensure_future(inline(svc, URI, 1, 4))
    await asyncio.sleep(0.05)
    svc.did_change(change_params(URI, 2, (0, 0), (0, 0), "# edit elsewhere\n"))
    assert await task == []


async def test_newer_request_supersedes_older(svc):
    svc.did_open(open_params(URI, "#fake:delay=2000\nx = \ny = \n"))
    old = asyncio.ensure_future(inline(svc, URI, 1, 4))
    await asyncio.sleep(0.05)
    svc.did_change(change_params(URI, 2, (0, 0), (0, 16), "#fake:text=fast"))
    new = await inline(svc, URI, 2, 4)
    assert await old == [] and new[0].insert_text == "fast"
    assert svc.scheduler.counters.stopped == 1


async def test_type_through_is_served_from_the_cache(svc):
    svc.did_open(open_params(URI, "#fake:text=value + 1\nx = \n"))
    await inline(svc, URI, 1, 4)
    svc.did_change(change_params(URI, 2, (1, 4), (1, 4), "val"))
    items = await inline(svc, URI, 1, 7)
    assert items[0].insert_text == "ue + 1" and svc.cache.hits == 1
    assert svc.host.engine.calls == 1


@pytest.mark.parametrize("uri,text,line,col,reason", [
    ("file:///never-opened.py", None, 0, 0, "unknown"),
    (URI, "x = 1\n", 7, 0, "outside"),
    (URI, "x = 1\n", 2, 0, "outside"),
    (URI, "x = \x00\x01\n", 0, 4, "binary"),
])
async def test_nothing_for_bad_requests(svc, uri, text, line, col, reason):
    if text is not None:
        svc.did_open(open_params(uri, text))
    assert await inline(svc, uri, line, col) == []
    assert svc.host.engine.calls == 0


async def test_column_past_the_line_end_is_clamped(svc):
    svc.did_open(open_params(URI, "x = \ny = 2\n"))
    items = await inline(svc, URI, 0, 99)
    assert rng(items[0]) == ((0, 4), (0, 4))


async def test_huge_documents_and_disabled_languages_are_skipped(svc):
    svc.apply_settings({"maxDocumentChars": 1000})
    svc.did_open(open_params(URI, "x = 1\n" * 1000 + "y = "))
    assert await inline(svc, URI, 1000, 4) == []
    svc.did_open(open_params("file:///notes.md", "# x = ", language="markdown"))
    assert await inline(svc, "file:///notes.md", 0, 6) == []
    assert svc.host.engine.calls == 0


async def test_model_error_mid_request_gives_empty_and_one_warning(svc):
    svc.did_open(open_params(URI, "#fake:raise\nx = \n"))
    assert await inline(svc, URI, 1, 4) == []
    assert await inline(svc, URI, 1, 4) == []
    assert [k for k, _ in svc.shown] == [lsp.MessageType.Warning]
    svc.did_open(open_params(URI, "x = \n"))
    assert (await inline(svc, URI, 0, 4))[0].insert_text == "value + 1"


async def test_invoked_returns_alternatives(svc):
    svc.did_open(open_params(URI, "x = \n"))
    items = await inline(svc, URI, 0, 4, invoked=True)
    assert len(items) == 3 and items[0].insert_text == "value + 1"
    assert len({i.insert_text for i in items}) == 3


async def test_invoked_after_an_automatic_answer_still_gets_alternatives(svc):
    svc.did_open(open_params(URI, "x = \n"))
    assert len(await inline(svc, URI, 0, 4)) == 1
    assert len(await inline(svc, URI, 0, 4, invoked=True)) == 3


async def test_selected_completion_info_is_extended(svc):
    svc.did_open(open_params(URI, "#fake:text=(x)\nres = pri\n"))
    items = await inline(svc, URI, 1, 9, selected=((1, 6), (1, 9), "print"))
    assert items[0].insert_text == "print(x)" and rng(items[0]) == ((1, 6), (1, 9))


async def test_completion_menu_item_replaces_the_word(svc):
    svc.did_open(open_params(URI, "#fake:text=lue + 1\nx = va\n"))
    result = await svc.completion(completion_params(URI, 1, 6), "r2")
    item = result.items[0]
    assert result.is_incomplete and item.label == "value + 1"
    assert item.text_edit.new_text == "value + 1" and rng(item) == ((1, 4), (1, 6))


async def test_off_switch_stops_running_work_and_starts_none(svc):
    svc.did_open(open_params(URI, "#fake:delay=3000\nx = \n"))
    task = asyncio.ensure_future(inline(svc, URI, 1, 4))
    await asyncio.sleep(0.05)
    svc.apply_settings({"enabled": False})
    assert await asyncio.wait_for(task, 1.0) == []
    assert await inline(svc, URI, 1, 4) == []
    assert svc.host.engine.calls == 1
    svc.apply_settings({"enabled": True})
    svc.did_open(open_params(URI, "x = \n"))
    assert await inline(svc, URI, 0, 4)


async def test_invalid_sampler_settings_warn_and_keep_defaults(svc):
    svc.apply_settings({"sampler": {"threshold": 0.5}})
    assert svc.config.sampler == {"threshold": 0.5} and not svc.shown
    svc.apply_settings({"sampler": {"treshold": 0.5}})
    assert svc.config.sampler == {"threshold": 0.5} and "sampler" in svc.shown[-1][1]


async def test_model_that_fails_to_load_leaves_the_server_serving(monkeypatch):
    monkeypatch.setenv("DLLM_LSP_ENGINE", FAKE_ENGINE)
    shown = []
    svc = Service(lambda kind, text: shown.append((kind, text)))
    svc.initialize({"model": "/no/such/dir"}, "utf-16")
    svc.initialized()
    await svc._load_task
    assert shown and shown[0][0] == lsp.MessageType.Error and "/no/such/dir" in shown[0][1]
    svc.did_open(open_params(URI, "x = \n"))
    assert await inline(svc, URI, 0, 4) == []
    assert svc.stats()["model_error"] and not svc.stats()["loading"]
    svc.apply_settings({"model": None})
    loading = svc.stats()  # asked right after the change: the load is under way, the old error is not news
    assert (loading["model"], loading["model_error"], loading["loading"]) == (None, None, True)
    await svc._load_task
    assert svc.stats()["model"]["model"] == "fake:default" and not svc.stats()["loading"]
    assert (await inline(svc, URI, 0, 4))[0].insert_text == "value + 1"
    svc.scheduler.close()


async def test_arena_backends_that_share_a_label_are_refused(svc):
    before = svc.config.arena.backends
    for same in (["dllm", "dllm"], ["x@dllm", "x@dllm?threshold=0.5"]):
        svc.apply_settings({"arena": {"backends": same}})
        assert svc.config.arena.backends == before and "share a label" in svc.shown[-1][1]
    svc.apply_settings({"arena": {"backends": ["dllm", "fast@dllm?threshold=0.5"]}})
    assert svc.config.arena.backends == ["dllm", "fast@dllm?threshold=0.5"]


async def test_log_lines_of_odd_client_input_are_written(svc):
    # a change to a document never opened, feedback whose fields are named like a log line's own
    svc.did_change(change_params("file:///never/opened.py", 2, (0, 0), (0, 0), "x"))
    assert telemetry.feedback("accepted", {"id": "r1:1", "event": "x", "level": 3}) == {
        "id": "r1:1", "client_event": "x", "client_level": 3}


async def test_inline_and_menu_asked_together_are_both_answered(svc):
    # VS Code with dllm.completionMenu asks both at every keystroke: one model run answers the two
    svc.did_open(open_params(URI, "#fake:delay=300\n#fake:text=value + 1\nx = \n"))
    inline_task = asyncio.ensure_future(inline(svc, URI, 2, 4))
    await asyncio.sleep(0.05)
    menu = await svc.completion(completion_params(URI, 2, 4), "r2")
    assert [i.insert_text for i in await inline_task] == ["value + 1"]
    assert [i.label for i in menu.items] == ["value + 1"]
    assert svc.scheduler.counters.submitted == 1


async def test_a_line_break_typed_while_the_model_runs_keeps_the_range_on_one_line(svc):
    svc.did_open(open_params(URI, "#fake:delay=300\n#fake:text=\\n    y = 1\\n    return y\ndef f(a):\n"))
    task = asyncio.ensure_future(inline(svc, URI, 2, 9))
    await asyncio.sleep(0.05)
    svc.did_change(change_params(URI, 2, (2, 9), (2, 9), "\n    "))  # Enter: the editor indents
    items = await task
    assert [i.insert_text for i in items] == ["y = 1\n    return y"] and rng(items[0]) == ((3, 4), (3, 4))


async def test_a_selected_item_replaces_its_whole_range_and_only_on_the_cursor_line(svc):
    svc.did_open(open_params(URI, "#fake:text=.join(a)\nx = os.pabc\n"))
    items = await inline(svc, URI, 1, 9, selected=((1, 7), (1, 11), "path"))  # replace mode: `pa|bc` -> path
    assert items[0].insert_text == "path.join(a)" and rng(items[0]) == ((1, 7), (1, 11))
    items = await inline(svc, URI, 1, 9, selected=((0, 0), (1, 9), "path"))  # not on the cursor's line
    assert all(rng(i)[0] == (1, 9) for i in items)
    for start, end in (((1, 9), (1, 7)), ((1, 4), (1, 6))):  # reversed; not around the cursor
        items = await inline(svc, URI, 1, 9, selected=(start, end, "pa"))  # ignored: `os.pa` + `pa...` never
        assert all(rng(i) == ((1, 9), (1, 9)) and not i.insert_text.startswith("pa") for i in items)


async def test_cancelling_one_of_two_shared_requests_leaves_the_other_its_answer(svc):
    svc.did_open(open_params(URI, "#fake:delay=300\n#fake:text=value + 1\nx = \n"))
    inline_task = asyncio.ensure_future(inline(svc, URI, 2, 4))
    await asyncio.sleep(0.05)
    menu_task = asyncio.ensure_future(svc.completion(completion_params(URI, 2, 4), "r2"))
    await asyncio.sleep(0.05)
    inline_task.cancel()  # $/cancelRequest of the inline one
    menu = await menu_task
    assert [i.label for i in menu.items] == ["value + 1"]
    with pytest.raises(asyncio.CancelledError):
        await inline_task


async def test_sampler_settings_the_model_does_not_read_are_named_and_kept(svc):
    svc.host.engine.info["kind"] = "ar"  # as the AR twin says of itself
    svc.apply_settings({"sampler": {"threshold": 0.5, "temperature": 0.3}})
    assert ("warning", "dllm: sampler settings without effect (threshold: not used by autoregressive models)") in [
        (str(kind).lower().rsplit(".", 1)[-1], text) for kind, text in svc.shown]
    assert svc.config.sampler == {"threshold": 0.5, "temperature": 0.3}
    svc.shown.clear()
    svc.apply_settings({"sampler": {"temperature": 0.3}})
    assert not svc.shown
