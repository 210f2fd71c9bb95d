"""bench/plots.py: PNGs and README tables from synthetic arena and latency results."""

import pytest

from bench import arena, common, latency, plots

STAMP = {"cpu": "Test CPU", "cores": 2, "gpu": None, "git": {"commit": "abc1234", "dirty": False},
         "utc": "2026-01-01T00:00:00+00:00"}


def arena_files(tmp_path):
    rows = []
    for split, mode in (("single-line", "single"), ("multi-line", "multi")):
        for b, base, ok in (("dllm t=0.9", 20, (1, 1, 0, 1)), ("ar", 60, (1, 0, 0, 1)),
                            ("hf generate", 90, (1, 0, 0, 1))):
            rows += [{"split": split, "mode": mode, "backend": b, "task_id": f"{split}/{i}", "passed": bool(p),
                      "exact_match": False, "syntax_valid": True, "result": "passed" if p else "failed",
                      "latency_ms": base + 3 * i, "nfe": 4, "tokens": 8, "error": None} for i, p in enumerate(ok)]
    splits = {s: arena.summarize_split([r for r in rows if r["split"] == s], "ar")
              for s in ("single-line", "multi-line")}
    summary = {"bench": "arena", "splits": splits, "limit": 4, "seed": 0, "machine": "Test CPU (2 cores)",
               "stamp": STAMP, "backends": {"dllm t=0.9": {"backend": "dllm"}, "ar": {"backend": "ar"},
                                            "hf generate": {"backend": "hf"}}}
    out = tmp_path / "arena.jsonl"
    common.write_jsonl(out, rows)
    common.write_summary(out, summary)
    return out


def latency_files(tmp_path):
    records, engine, lsp = [], {}, {}
    for mode in ("single", "multi"):
        engine[mode], lsp[mode] = {}, {}
        for ctx in (250, 1000):
            eng = [{"i": i, "text": "x", "latency_ms": 10.0 + i, "nfe": 3, "tokens": 9, "steps": 3,
                    "context_tokens": min(ctx, 480)} for i in range(5)]  # the model's budget caps the window
            srv = [{"i": i, "text": "x", "latency_ms": 12.0 + i} for i in range(5)]
            engine[mode][str(ctx)] = latency.cell_summary(eng)
            lsp[mode][str(ctx)] = {**latency.cell_summary(srv), "overhead_p50_ms": 2.0}
            records += [{"path": "engine", "mode": mode, "context": ctx, **r} for r in eng]
            records += [{"path": "lsp", "mode": mode, "context": ctx, **r} for r in srv]
    summary = {"bench": "latency", "backend": {"model": "tiny", "label": "dllm"}, "stamp": STAMP,
               "settings": {"contexts": [250, 1000], "n": 5}, "engine": engine, "lsp": lsp,
               "cache": {"multi": {"ratio_p50": 2.5, "cached_p50_ms": 10, "uncached_p50_ms": 25,
                                   "equal_outputs": 1.0}},
               "memory": {"peak_rss_mb": 512.0, "case": "multi", "load_s": 0.8, "first_completion_s": 0.86},
               "import": {"import_dllm_s": 0.01, "import_dllm_engine_s": 0.9}, "targets": {"cache_at_least_2x": True}}
    summary["targets"] = latency.targets(summary)
    out = tmp_path / "latency.jsonl"
    common.write_jsonl(out, records)
    common.write_summary(out, summary)
    return out


def test_plots_write_pngs_and_readme_tables(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the figures are drawn with matplotlib (a dev dependency)")
    a, lat = arena_files(tmp_path), latency_files(tmp_path)
    figs = plots.main(["--arena", str(a), "--latency", str(lat), "--outdir", str(tmp_path / "figs"), "--readme"])
    assert len(figs) == 3
    for f in figs.values():
        data = open(f, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    md = capsys.readouterr().out
    assert "| dllm t=0.9 | 75.0% | 24.5 |" in md  # pass@1 and p50 of the synthetic rows
    assert "speed-up vs ar" in md and "| dllm t=0.9 | ar | 1 / 3 / 0 |" in md
    assert "| lsp | multi | 1000 / 480 | 14.0 |" in md and "2.50×" in md and "512 MB" in md
    assert "| fresh process: model loaded / first completion | 0.80 s / 0.86 s |" in md
    assert "target: single p50 under 60ms | met" in md
    assert "![speed-quality frontier](" in md


def test_update_rewrites_only_the_marked_block(tmp_path):
    pytest.importorskip("matplotlib", reason="the figures are drawn with matplotlib (a dev dependency)")
    a = arena_files(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{plots.BEGIN}\nold table\n{plots.END}\n\nmore text\n")
    plots.main(["--arena", str(a), "--outdir", str(tmp_path / "docs"), "--update", str(readme)])
    text = readme.read_text()
    assert text.startswith("# Title\n\n" + plots.BEGIN) and text.endswith(plots.END + "\n\nmore text\n")
    assert "old table" not in text and "(docs/arena-frontier.png)" in text
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit):
        plots.main(["--arena", str(a), "--outdir", str(tmp_path / "docs"), "--update", str(readme)])
