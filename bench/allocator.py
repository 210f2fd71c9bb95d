"""CPU serving latency under glibc's default malloc thresholds and under the pinned ones (`dllm/allocator.py`).

The thresholds belong to the whole process and cannot be put back once set, so each arm runs in
fresh processes, taking turns: `default` (glibc's dynamic thresholds, as a process that never
imported torch._dynamo has them), `dynamo` (the same, after `import torch._dynamo`, which the model's
load did by accident before 3266f89 and which raised them), `pinned` (what `load_checkpoint` does
now). Each process serves the latency bench's holes (argparse.py, single- and multi-line) and
reports its p50 and peak RSS; an arm's figure is the median over its processes.

    python -m bench.allocator --processes 5 --n 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from . import common

ARMS = ("default", "dynamo", "pinned")

_CHILD = """
import json, statistics, sys, time
arm, model, context, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
from dllm_complete.dllm import allocator
if arm != "pinned":
    allocator.keep_temporaries_mapped = lambda: False
if arm == "dynamo":
    import torch._dynamo
from dllm_complete import dllm
from bench import latency
engine = dllm.load(None if model == "default" else model)
text = latency.DEFAULT_SOURCE.read_text(encoding="utf-8")
out = {}
for mode, find in (("single", latency.single_holes), ("multi", latency.multi_holes)):
    holes = [latency.window(engine.tokenizer, h, context) for h in latency.pick(find(text), n, seed)]
    engine.infill(*holes[0], mode=mode)
    times, texts = [], []
    for prefix, suffix in holes:
        t0 = time.perf_counter()
        texts.append(engine.infill(prefix, suffix, mode=mode).text)
        times.append((time.perf_counter() - t0) * 1e3)
    out[mode] = {"p50_ms": statistics.median(times), "texts": texts}
out["dynamo_imported"] = "torch._dynamo" in sys.modules
with open("/proc/self/status") as f:
    out["peak_rss_mb"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
print(json.dumps(out))
"""


def run_arm(arm: str, args) -> dict:
    cmd = [sys.executable, "-c", _CHILD, arm, args.model, str(args.context), str(args.n), str(args.seed)]
    # cwd: `python -c` puts it first on sys.path, so the child imports `bench` from this repository
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=common.REPO_ROOT)
    return common.last_json_line(done.stdout)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--processes", type=int, default=5, help="fresh processes per arm")
    p.add_argument("--n", type=int, default=20, help="holes per mode")
    p.add_argument("--context", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for i in range(args.processes):
        for arm in ARMS[i % len(ARMS):] + ARMS[:i % len(ARMS)]:  # rotate which arm goes first
            runs[arm].append(run_arm(arm, args))
            print(arm, {m: round(runs[arm][-1][m]["p50_ms"], 1) for m in ("single", "multi")}, file=sys.stderr)
    arms = {}
    for arm, rs in runs.items():
        arms[arm] = {m: statistics.median(r[m]["p50_ms"] for r in rs) for m in ("single", "multi")}
        arms[arm]["peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in rs)
        arms[arm]["dynamo_imported"] = any(r["dynamo_imported"] for r in rs)
        arms[arm]["same_text_as_default"] = all(r[m]["texts"] == runs["default"][0][m]["texts"]
                                                for r in rs for m in ("single", "multi"))
    summary = {"bench": "allocator", "model": args.model, "context": args.context, "n": args.n,
               "processes": args.processes, "arms": arms,
               "speedup_p50": {arm: {m: arms["default"][m] / arms[arm][m] for m in ("single", "multi")}
                               for arm in ARMS[1:]},
               "stamp": common.stamp()}
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
