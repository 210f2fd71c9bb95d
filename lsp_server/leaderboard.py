"""The arena leaderboard: `dllm-arena report LOG [LOG ...]` turns pairwise votes into ranked scores.

A LOG is a vote log as the language server writes it (JSONL, one vote a line: `a`, `b`, `winner`
"a" | "b" | "tie" | "none", `latency_ms`, `status`, ...) or the per-task JSONL of the offline arena
(`python -m bench.arena --out`), told apart by its rows' fields (`backend`, `task_id`, `passed`). Bench
rows become simulated votes (`"source": "bench"`): for each task, every pair of backends with a result
for it; the one whose completion passed wins, both passed or both failed is a tie. Both views share
one leaderboard.

Scores are Bradley-Terry strengths fitted by maximum likelihood (Newman's form of Zermelo's
iteration), on the Elo scale: 400 log10(strength), shifted so that the mean backend scores 1000; 400
points ahead wins 10 games in 11. A tie counts half a win to each side. "none" (the user dismissed
both) tells which pair was poor, not which one was better: it stays out of the fit and the win rates,
and counts as a dismissal of both. A side that failed (timed out or errored) cannot be picked: it
loses when the user takes the other one; its timeouts and errors are counted in the latency table. A
round read twice (a log given twice) counts once. Each backend also plays one virtual tie against a fixed reference,
so one that never lost (or never won) keeps a finite score; over a few hundred votes it moves little.
The 95% intervals are percentile bootstrap: the rounds that enter the fit, resampled with replacement
(--bootstrap times, seeded); a round is one editor vote, or a bench task's votes between every two
backends (over all logs), which share one test outcome per backend and move together. A rank is 1 +
the number of backends whose interval lies wholly above this one's (Chatbot Arena's upper-bound rank;
overlap is not transitive, so two backends whose intervals overlap can still get different ranks, and
ranks need not follow the order of the scores); without a bootstrap, by score. Where every vote agrees the interval has no width: read it
with the vote counts. Latency per backend: p50, p90 and mean of `latency_ms` over the rounds it
answered (status "ok" or "empty": both ran to the end), counted once per round; timeouts and errors
are counted apart.

Writes leaderboard.json, leaderboard.html (self-contained: the tables and inline SVG charts) and, where
matplotlib is installed, scores.png and latency.png into --out (default: `<first LOG's stem>-report/`
beside it). Prints the table on stderr and a JSON summary as the last line of stdout. Malformed lines
and records that are neither votes nor bench rows are skipped, with one count per log on stderr; a
missing or empty log, or one without a usable vote, is a one-line error with exit status 2.

    dllm-arena report ~/.local/state/dllm-complete/arena-votes.jsonl
    dllm-arena report bench/results/arena.jsonl --out /tmp/board --bootstrap 1000 --seed 1
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .args import Parser

PROG = "dllm-arena"
EXIT_USAGE = 2
WINNERS = {"a": 1.0, "tie": 0.5, "b": 0.0, "none": None}  # a's share of the game
BENCH_FIELDS = ("backend", "task_id", "passed")
PRIOR_GAMES = 1.0  # virtual tied games per backend against the reference
ELO = 400 / math.log(10)
ANSWERED = ("ok", "empty")
QUANTILES = (10, 25, 50, 75, 90)  # of latency: p50 and p90 reported, the rest drawn
METHOD = {"model": "Bradley-Terry, maximum likelihood (Newman's iteration)",
          "scale": "400*log10(strength), mean backend = 1000", "ties": "half a win to each side",
          "none": "left out of the fit and the win rates; counted as dismissed",
          "prior": f"{PRIOR_GAMES:g} virtual tie per backend against a fixed reference",
          "ci95": "percentile bootstrap over the rounds in the fit (a bench task's votes resampled together)",
          "rank": "1 + backends whose interval lies wholly above (by score without a bootstrap)"}


class UsageError(Exception):
    pass


# ----------------------------------------------------------------------------------------- reading


def read_log(path: Path) -> tuple[list[dict], int]:
    """The JSON objects of one log, one a line, and how many non-empty lines were not one."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a log")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {(exc.strerror or str(exc)).lower()}") from None
    records, bad = [], 0
    for line in text.split("\n"):  # JSON Lines end at "\n" only (a text may hold U+2028 or U+0085)
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            records.append(obj)
        else:
            bad += 1
    if not records and not bad:
        raise UsageError(f"{path}: empty log")
    return records, bad


def is_vote(r: dict) -> bool:
    a, b = r.get("a"), r.get("b")
    return isinstance(a, str) and isinstance(b, str) and bool(a and b) and a != b and r.get("winner") in WINNERS


def is_bench_row(r: dict) -> bool:
    return (all(k in r for k in BENCH_FIELDS) and isinstance(r["backend"], str) and isinstance(r["passed"], bool)
            and isinstance(r["task_id"], (str, int)) and isinstance(r.get("split"), (str, type(None))))


def bench_status(row: dict) -> str:
    return "error" if row.get("error") else "empty" if row.get("completion") == "" else "ok"


def bench_votes(rows: list[dict], source: str) -> list[dict]:
    """Simulated votes from offline arena rows: per (split, task), each pair of backends; the one that
    passed wins, else a tie."""
    tasks: dict = defaultdict(dict)
    for r in rows:
        tasks[r.get("split"), r["task_id"]][r["backend"]] = r
    votes = []
    for (split, task), by in tasks.items():
        for a, b in itertools.combinations(by, 2):
            ra, rb = by[a], by[b]
            winner = "tie" if ra["passed"] == rb["passed"] else "a" if ra["passed"] else "b"
            votes.append({"source": "bench", "round": f"{source}:{split}/{task}", "task": f"{split}/{task}",
                          "split": split, "task_id": task,
                          "a": a, "b": b, "winner": winner, "specs": {"a": ra.get("spec"), "b": rb.get("spec")},
                          "latency_ms": {"a": ra.get("latency_ms"), "b": rb.get("latency_ms")},
                          "status": {"a": bench_status(ra), "b": bench_status(rb)}})
    return votes


def check_labels(votes: list[dict]) -> None:
    """A UsageError where one label stands for different benchmark backends (their specs differ) across
    the logs: merged, the leaderboard would score two models as one."""
    specs: dict = defaultdict(set)
    for v in votes:
        for side in "ab":
            if (spec := (v.get("specs") or {}).get(side)) is not None:
                specs[v[side]].add(spec)
    for label, found in specs.items():
        if len(found) > 1:
            raise UsageError(f"label {label!r} names different backends across the logs ({', '.join(sorted(found))}): "
                             "name them apart with LABEL@SPEC in bench.arena")


def load_votes(path: Path) -> tuple[list[dict], int]:
    """The votes in one log (bench rows converted) and how many lines were skipped (said on stderr)."""
    records, bad = read_log(path)
    rows = [r for r in records if is_bench_row(r)]
    votes = [r for r in records if not is_bench_row(r) and is_vote(r)]
    strays = len(records) - len(rows) - len(votes)
    votes += bench_votes(rows, str(path.resolve()))
    if not votes:
        if not records:
            raise UsageError(f"{path}: no line is a JSON object ({bad} malformed)")
        if rows:
            raise UsageError(f"{path}: no task has results from two backends, nothing to compare")
        raise UsageError(f"{path}: no votes (a vote has a, b and winner; a bench row backend, task_id and passed)")
    if bad or strays:
        what = [f"{bad} malformed line(s)"] * bool(bad) + [f"{strays} record(s) that are not votes"] * bool(strays)
        print(f"{PROG}: {path}: skipped {' and '.join(what)}", file=sys.stderr)
    return votes, bad + strays


# ------------------------------------------------------------------------------------------ fitting


def fit(wins: np.ndarray, tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """Bradley-Terry log-strengths from wins[..., i, j] (i's wins over j, ties half to each) by maximum
    likelihood, batched over the leading axes. The reference joins as one more player, strength 1, with
    the virtual ties; Newman's iteration: pi_i <- sum_j w_ij pi_j / (pi_i + pi_j) / sum_j w_ji / (pi_i + pi_j)."""
    k = wins.shape[-1]
    w = np.full(wins.shape[:-2] + (k + 1, k + 1), PRIOR_GAMES / 2)
    w[..., :k, :k] = wins
    w[..., k, k] = 0.0
    lost = np.swapaxes(w, -1, -2)
    pi = np.ones(w.shape[:-1])
    for _ in range(max_iter):
        pair = 1.0 / (pi[..., :, None] + pi[..., None, :])
        new = ((w * pair) @ pi[..., None])[..., 0] / (lost * pair).sum(-1)
        new /= new[..., -1:]
        done = np.max(np.abs(np.log(new) - np.log(pi))) < tol
        pi = new
        if done:
            break
    return np.log(pi[..., :-1])


def elo(log_pi: np.ndarray) -> np.ndarray:
    """Log-strengths on the Elo scale, the mean backend at 1000 (per row when batched)."""
    s = ELO * log_pi
    return s - s.mean(axis=-1, keepdims=True) + 1000.0


def round_of(vote: dict) -> str | None:
    """The vote's round id: a non-empty string, else None (each such vote a round of its own)."""
    r = vote.get("round")
    return r if isinstance(r, str) and r else None


def cluster_of(vote: dict) -> str | None:
    """What the bootstrap resamples the vote with: a bench task's votes in every log, else its round."""
    task = vote.get("task") if vote.get("source") == "bench" else None
    return f"task:{task}" if isinstance(task, str) and task else round_of(vote)


def rounds(votes: list[dict], index: dict[str, int]) -> np.ndarray:
    """The wins matrix of each round of the votes in the fit, shape (rounds, K, K): what the bootstrap
    resamples (a bench task's pairwise votes together; a vote without a round id on its own)."""
    mats: dict = {}
    for n, v in enumerate(votes):
        share = WINNERS[v["winner"]]
        if share is None:
            continue
        m = mats.setdefault(cluster_of(v) or ("vote", n), np.zeros((len(index), len(index))))
        i, j = index[v["a"]], index[v["b"]]
        m[i, j] += share
        m[j, i] += 1.0 - share
    return np.array(list(mats.values())).reshape(-1, len(index), len(index))


def scores(votes: list[dict], labels: list[str], n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Elo-scale scores of the labels and their 95% bootstrap intervals (2, K), None without resamples."""
    if not labels:
        return np.zeros(0), None
    mats = rounds(votes, {k: i for i, k in enumerate(labels)})
    point = elo(fit(mats.sum(0)))
    if n_boot <= 0 or not len(mats):
        return point, None
    draws = np.random.default_rng(seed).multinomial(len(mats), np.full(len(mats), 1.0 / len(mats)), size=n_boot)
    boot = elo(fit(np.tensordot(draws.astype(float), mats, 1)))
    return point, np.percentile(boot, [2.5, 97.5], axis=0)


# ----------------------------------------------------------------------------------------- counting


def tally(votes: list[dict]) -> tuple[dict, dict]:
    """Per backend: votes, wins, losses, ties, dismissed; per ordered pair: [a's share of games, games]."""
    per: dict = defaultdict(Counter)
    pairs: dict = defaultdict(lambda: [0.0, 0])
    for v in votes:
        a, b, share = v["a"], v["b"], WINNERS[v["winner"]]
        per[a]["votes"] += 1
        per[b]["votes"] += 1
        if share is None:
            per[a]["dismissed"] += 1
            per[b]["dismissed"] += 1
            continue
        for me, other, s in ((a, b, share), (b, a, 1.0 - share)):
            per[me]["wins" if s == 1 else "losses" if s == 0 else "ties"] += 1
            pairs[me, other][0] += s
            pairs[me, other][1] += 1
    return per, pairs


def _side(vote: dict, field: str, side: str):
    d = vote.get(field)
    return d.get(side) if isinstance(d, dict) else None


def _text(value, default: str | None = None) -> str | None:
    return value if isinstance(value, str) and value else default


def latency(votes: list[dict]) -> dict[str, dict]:
    """Per backend: latency quantiles over the rounds it answered, and its status counts (once per round)."""
    seen = {}
    for k, v in enumerate(votes):
        for side in ("a", "b"):
            key = (_text(v.get("round"), k), v[side])
            seen.setdefault(key, (_text(_side(v, "status", side)), _side(v, "latency_ms", side)))
    samples, status = defaultdict(list), defaultdict(Counter)
    for (_, label), (st, ms) in seen.items():
        status[label][st or "unknown"] += 1
        if (st in ANSWERED or st is None) and isinstance(ms, (int, float)) and math.isfinite(ms) and ms >= 0:
            samples[label].append(float(ms))
    out = {}
    for label in status:
        xs = samples[label]
        qs = np.percentile(xs, QUANTILES) if xs else [None] * len(QUANTILES)
        out[label] = {"latency_ms": {"n": len(xs), **{f"p{q}": _r(x, 1) for q, x in zip(QUANTILES, qs)},
                                     "mean": _r(sum(xs) / len(xs), 1) if xs else None},
                      "timeouts": status[label]["timeout"], "errors": status[label]["error"],
                      "status": dict(status[label])}
    return out


def first_shown_win_rate(votes: list[dict]) -> dict:
    """How often the suggestion shown first won, over decided votes that say which came first (position bias)."""
    decided = [v for v in votes if v["winner"] in ("a", "b") and v.get("first") in ("a", "b")]
    won = sum(v["winner"] == v["first"] for v in decided)
    return {"n": len(decided), "rate": _r(won / len(decided)) if decided else None}


def _r(x, digits: int = 4):
    return None if x is None else round(float(x), digits)


def build(votes: list[dict], n_boot: int, seed: int) -> dict:
    """The leaderboard of the votes: ranked backends, pairwise win rates, latency, counts."""
    per, pairs = tally(votes)
    rated = [k for k in per if per[k]["votes"] > per[k]["dismissed"]]
    point, ci = scores(votes, rated, n_boot, seed)
    score = {k: (point[i], None if ci is None else ci[:, i]) for i, k in enumerate(rated)}
    lat = latency(votes)
    order = sorted(per, key=lambda k: (k not in score, -score[k][0] if k in score else 0.0, k))
    board = []
    shown = {k: _r(score[k][0], 1) for k in score}
    for k in order:
        c, games = per[k], per[k]["votes"] - per[k]["dismissed"]
        s, interval = score.get(k, (None, None))
        if k not in score:
            rank = None
        elif interval is None:  # equal scores, equal rank
            rank = 1 + sum(v > shown[k] for v in shown.values())
        else:  # significantly behind this many
            rank = 1 + sum(bool(other[1][0] > interval[1]) for other in score.values())
        board.append({"rank": rank, "backend": k, "score": _r(s, 1),
                      "ci95": None if interval is None else [_r(x, 1) for x in interval],
                      "votes": c["votes"], "wins": c["wins"], "losses": c["losses"], "ties": c["ties"],
                      "dismissed": c["dismissed"],
                      "win_rate": _r((c["wins"] + c["ties"] / 2) / games) if games else None,
                      "dismiss_rate": _r(c["dismissed"] / c["votes"]), **lat[k]})
    matrix = {a: {b: {"games": pairs[a, b][1], "win_rate": _r(pairs[a, b][0] / pairs[a, b][1])}
                  for b in order if (a, b) in pairs} for a in order}
    sources = Counter(_text(v.get("source"), "editor") for v in votes)
    dismissed = sum(v["winner"] == "none" for v in votes)
    return {"report": "arena", "votes": len(votes), "sources": dict(sources),
            "dismiss_rate": _r(dismissed / len(votes)), "first_shown_wins": first_shown_win_rate(votes),
            "bootstrap": n_boot, "seed": seed, "method": METHOD, "leaderboard": board, "pairwise": matrix}


# ----------------------------------------------------------------------------------------- showing


def _num(x, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def _ci(row: dict) -> str:
    return "-" if row["ci95"] is None else f"{row['ci95'][0]:.0f}..{row['ci95'][1]:.0f}"


def text_table(report: dict) -> str:
    width = max(7, *(len(r["backend"]) for r in report["leaderboard"]))
    lines = [f"{'rank':>4}  {'backend':<{width}}  {'score':>5}  {'95% CI':>11}  {'votes':>5}  {'win':>4}  "
             f"{'dismiss':>7}  {'p50 ms':>7}  {'p90 ms':>7}"]
    for r in report["leaderboard"]:
        lat = r["latency_ms"]
        lines.append(f"{_num(r['rank']):>4}  {r['backend']:<{width}}  {_num(r['score']):>5}  {_ci(r):>11}  "
                     f"{r['votes']:>5}  {_num(r['win_rate'], '{:.0%}'):>4}  {_num(r['dismiss_rate'], '{:.0%}'):>7}  "
                     f"{_num(lat['p50']):>7}  {_num(lat['p90']):>7}")
    return "\n".join(lines)


def _ticks(lo: float, hi: float) -> list[float]:
    step = 10 ** math.floor(math.log10((hi - lo) / 4 or 1))
    step *= next(m for m in (1, 2, 5, 10) if (hi - lo) / (step * m) <= 6)
    return [t * step for t in range(math.ceil(lo / step), math.floor(hi / step) + 1)]


def svg_chart(labels: list[str], lo: float, hi: float, draw, caption: str) -> str:
    """A horizontal chart, one row a label: `draw(i, y, x)` gives row i's marks, with x(value) -> pixels."""
    left, width, row, top = 170, 660, 26, 10
    height = top + row * len(labels) + 44

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo or 1) * (width - left - 20)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="12" '
             f'font-family="sans-serif">']
    for t in _ticks(lo, hi):
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{height - 30}" stroke="#ddd"/>'
                     f'<text x="{x(t):.1f}" y="{height - 16}" text-anchor="middle">{t:g}</text>')
    for i, label in enumerate(labels):
        y = top + row * i + row / 2
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{html.escape(label)}</text>')
        parts.extend(draw(i, y, x))
    parts.append(f'<text x="{(left + width) / 2:.0f}" y="{height - 1}" text-anchor="middle">{caption}</text></svg>')
    return "".join(parts)


def svg_scores(board: list[dict]) -> str:
    rows = [r for r in board if r["score"] is not None]
    if not rows:
        return ""
    ends = [v for r in rows for v in (r["ci95"] or [r["score"]] * 2)]
    lo, hi = min(ends), max(ends)
    pad = max(10.0, (hi - lo) * 0.05)

    def draw(i, y, x):
        r = rows[i]
        a, b = r["ci95"] or (r["score"], r["score"])
        return [f'<line x1="{x(a):.1f}" x2="{x(b):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#4477aa" stroke-width="2"/>',
                f'<circle cx="{x(r["score"]):.1f}" cy="{y:.1f}" r="4" fill="#4477aa"/>']

    return svg_chart([r["backend"] for r in rows], lo - pad, hi + pad, draw, "score (95% CI)")


def svg_latency(board: list[dict]) -> str:
    rows = [r for r in board if r["latency_ms"]["n"]]
    if not rows:
        return ""
    hi = max(r["latency_ms"]["p90"] for r in rows) * 1.05

    def draw(i, y, x):
        q = rows[i]["latency_ms"]
        return [f'<line x1="{x(q["p10"]):.1f}" x2="{x(q["p90"]):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#666"/>',
                f'<rect x="{x(q["p25"]):.1f}" y="{y - 7:.1f}" width="{x(q["p75"]) - x(q["p25"]):.1f}" height="14" '
                f'fill="#cce0f0" stroke="#4477aa"/>',
                f'<line x1="{x(q["p50"]):.1f}" x2="{x(q["p50"]):.1f}" y1="{y - 7:.1f}" y2="{y + 7:.1f}" '
                f'stroke="#223" stroke-width="2"/>',
                f'<circle cx="{x(q["mean"]):.1f}" cy="{y:.1f}" r="3" fill="#cc6677"/>']

    return svg_chart([r["backend"] for r in rows], 0.0, hi, draw,
                     "latency ms (p10-p90, box p25-p75, | p50, dot mean)")


def _table(head: list[str], rows: list[list[str]], name: int = 0) -> str:
    """An HTML table; column `name` holds the backends' names (left-aligned)."""
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="name">{c}</td>' if i == name else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def html_page(report: dict) -> str:
    board, matrix = report["leaderboard"], report["pairwise"]
    names = [r["backend"] for r in board]
    ranked = _table(["rank", "backend", "score", "95% CI", "votes", "wins", "losses", "ties", "dismissed",
                     "win rate", "dismiss rate"],
                    [[_num(r["rank"]), html.escape(r["backend"]), _num(r["score"]), _ci(r), str(r["votes"]),
                      str(r["wins"]), str(r["losses"]), str(r["ties"]), str(r["dismissed"]),
                      _num(r["win_rate"], "{:.1%}"), _num(r["dismiss_rate"], "{:.1%}")] for r in board], name=1)

    def cell(a: str, b: str) -> str:
        m = matrix[a].get(b)
        if m is None:
            return ""
        shade = int(255 - 90 * abs(m["win_rate"] - 0.5) * 2)
        colour = f"rgb({shade},255,{shade})" if m["win_rate"] >= 0.5 else f"rgb(255,{shade},{shade})"
        return f'<span style="background:{colour}">{m["win_rate"]:.0%}</span> <small>({m["games"]})</small>'

    wins = _table(["row beats column", *names], [[html.escape(a), *(cell(a, b) for b in names)] for a in names])
    lat = _table(["backend", "answered", "p50 ms", "p90 ms", "mean ms", "timeouts", "errors"],
                 [[html.escape(r["backend"]), str(r["latency_ms"]["n"]), _num(r["latency_ms"]["p50"]),
                   _num(r["latency_ms"]["p90"]), _num(r["latency_ms"]["mean"]), str(r["timeouts"]),
                   str(r["errors"])] for r in board])
    sources = ", ".join(f"{n} {html.escape(str(s))}" for s, n in report["sources"].items())
    first = report["first_shown_wins"]
    bias = f" The suggestion shown first won {first['rate']:.0%} of {first['n']} decided votes." if first["n"] else ""
    method = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in report["method"].items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>dllm arena leaderboard</title><style>
body {{font-family: sans-serif; margin: 2em; max-width: 60em}} table {{border-collapse: collapse; margin: 1em 0}}
td, th {{border: 1px solid #ccc; padding: 3px 8px; text-align: right}} td.name {{text-align: left}}
</style></head><body>
<h1>Arena leaderboard</h1>
<p>{report["votes"]} votes ({sources}); {report["dismiss_rate"]:.1%} dismissed both; {report["bootstrap"]} bootstrap
resamples (seed {report["seed"]}).{bias}</p>
{ranked}
{svg_scores(board)}
<h2>Pairwise win rate</h2>
{wins}
<h2>Latency</h2>
{lat}
{svg_latency(board)}
<h2>Method</h2><ul>{method}</ul>
</body></html>
"""


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None where matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_scores(plt, board: list[dict], path: Path) -> bool:
    rated = [r for r in board if r["score"] is not None][::-1]
    if not rated:
        return False
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rated) + 1.2))
    errs = [[max(0.0, r["score"] - r["ci95"][0]), max(0.0, r["ci95"][1] - r["score"])] if r["ci95"] else [0, 0]
            for r in rated]  # a percentile interval may leave the point estimate out
    ax.errorbar([r["score"] for r in rated], range(len(rated)), xerr=np.array(errs).T, fmt="o", capsize=3)
    ax.set_yticks(range(len(rated)), [r["backend"] for r in rated])
    ax.axvline(1000, color="#ccc", zorder=0)
    ax.set_xlabel("score (95% CI)")
    return save_figure(plt, fig, path)


def png_latency(plt, board: list[dict], path: Path) -> bool:
    timed = [r for r in board if r["latency_ms"]["n"]][::-1]
    if not timed:
        return False
    q = {k: np.array([r["latency_ms"][k] for r in timed]) for k in ("p10", "p25", "p50", "p75", "p90", "mean")}
    ys = np.arange(len(timed))
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(timed) + 1.2))
    ax.hlines(ys, q["p10"], q["p90"], color="#666")
    ax.barh(ys, q["p75"] - q["p25"], left=q["p25"], height=0.5, color="#cce0f0", edgecolor="#4477aa")
    ax.vlines(q["p50"], ys - 0.25, ys + 0.25, color="#223", linewidth=2)
    ax.plot(q["mean"], ys, "o", color="#cc6677", markersize=4)
    ax.set_yticks(ys, [r["backend"] for r in timed])
    ax.set_xlabel("latency ms (p10-p90, box p25-p75, | p50, dot mean)")
    return save_figure(plt, fig, path)


def save_figure(plt, fig, path: Path) -> Path:
    """Lay the figure out, write it to `path` (PNG) and close it (bench/plots.py draws with it too)."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(prog=PROG, description="Leaderboards of the completion arena's pairwise votes.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="scores, win rates and latency from vote logs or bench arena JSONL",
                       description=__doc__.split("\n\n")[1])
    r.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="vote log or bench/arena.py --out JSONL")
    r.add_argument("--out", type=Path, default=None, help="output folder (default: <first LOG's stem>-report/)")
    r.add_argument("--bootstrap", type=int, default=200, help="resamples for the 95%% intervals (0 = none)")
    r.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def write(out: Path, report: dict) -> list[Path]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "leaderboard.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        (out / "leaderboard.html").write_text(html_page(report), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {(exc.strerror or str(exc)).lower()}") from None
    plt = pyplot()
    if plt is None:
        print(f"{PROG}: matplotlib is not installed: no PNG plots (the HTML page has its own)", file=sys.stderr)
        return []
    drawn = [(png_scores, out / "scores.png"), (png_latency, out / "latency.png")]
    return [path for draw, path in drawn if draw(plt, report["leaderboard"], path)]


def report_command(args: argparse.Namespace) -> int:
    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap {args.bootstrap}: must be >= 0")
    votes, skipped, seen, repeated = [], 0, set(), 0
    for path in args.logs:
        mine, bad = load_votes(path)
        skipped += bad
        for v in mine:
            key = (round_of(v), v["a"], v["b"])
            if key[0] is not None and key in seen:
                repeated += 1
                continue
            seen.add(key)
            votes.append(v)
    if repeated:
        print(f"{PROG}: skipped {repeated} vote(s) of rounds read already (a log given twice?)", file=sys.stderr)
    check_labels(votes)
    report = {**build(votes, args.bootstrap, args.seed), "logs": [str(p) for p in args.logs], "skipped_lines": skipped}
    out = args.out or args.logs[0].with_name(args.logs[0].stem + "-report")
    plots = write(out, report)
    print(text_table(report), file=sys.stderr, flush=True)
    summary = {"report": "arena", "votes": report["votes"], "sources": report["sources"], "skipped_lines": skipped,
               "leaderboard": [{k: r[k] for k in ("rank", "backend", "score", "ci95", "win_rate", "votes")}
                               for r in report["leaderboard"]],
               "out": str(out), "files": [str(out / "leaderboard.json"), str(out / "leaderboard.html"),
                                          *map(str, plots)]}
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return report_command(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
