"""bench/syntax.py: the added-latency figure is paired item by item."""

from bench import syntax


def rec(item, arm, ms, kind="single"):
    return {"suite": "js", "id": item, "arm": arm, "latency_ms": ms, "kind": kind}


def test_added_latency_is_the_median_of_per_item_ratios():
    # two kinds of hole: the arms' p50s land on different kinds, the per-item ratios do not
    records = [rec("a", "on", 11), rec("a", "off", 10), rec("b", "on", 22), rec("b", "off", 20),
               rec("c", "on", 105), rec("c", "off", 100), rec("d", "on", 210), rec("d", "off", 200),
               rec("e", "on", 33), rec("e", "off", 30)]
    assert syntax.paired_added_latency(records) == 0.1
    assert syntax.paired_added_latency([rec("a", "on", 10)]) is None  # no pair


def test_compare_checks_the_target_on_the_paired_figure():
    records = [rec(str(i), arm, ms) for i in range(5) for arm, ms in (("on", 100 + i), ("off", 100))]
    arm = {"syntax_errors": 2, "latency_ms": {"p50": 102}}
    out = syntax.compare(arm, {**arm, "syntax_errors": 4, "latency_ms": {"p50": 60}}, records)
    assert out["syntax_errors_removed"] == 0.5 and out["syntax_errors_halved"]
    assert out["added_latency_p50"] > 0.15  # p50s of different holes
    assert out["added_latency_per_item_p50"] == 0.02 and out["added_latency_under_15pct"]
