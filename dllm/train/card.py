"""Package a finished training run: copy the model into `dllm/weights/<name>/` and write its card.

  python -m dllm_complete.dllm.train.card --run runs/dllm-code-small-2 --twin runs/ar-code-small-2 --eval eval.json

Every run is checked first (finished, loads, the right kind, no other kind overwritten); `--weights`
chooses another destination. The card holds the architecture, parameter count, tokens seen, compute,
loss curves (loss.png), the corpus summary with licences, and the evaluation numbers given as JSON; the
twin's folder gets a README that points to it. The held-out file list goes beside the weights
(heldout.json) for `python -m dllm_complete.dllm.train fit --heldout-manifest`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from collections import Counter
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]


def plot_losses(runs: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    for ax, (name, log) in zip(axes[0], runs.items()):
        ax.plot([r["tokens"] / 1e6 for r in log], [r["loss"] for r in log], lw=0.6, alpha=0.5, label="train (batch)")
        held = [r for r in log if "heldout" in r]
        ax.plot([r["tokens"] / 1e6 for r in held], [r["heldout"] for r in held], "o-", label="held-out")
        ax.set(title=name, xlabel="tokens seen (M)", ylabel="loss (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def corpus_table(manifest: dict, top: int = 15) -> str:
    by_licence: Counter = Counter()
    for p in manifest["packages"].values():
        by_licence[p["licence"] or "unknown"] += p["bytes"]
    biggest = sorted(manifest["packages"].items(), key=lambda kv: -kv[1]["bytes"])[:top]
    rows = [f"| {name} | {p['files']} | {p['bytes'] / 1e6:.1f} | {p['licence']} |" for name, p in biggest]
    lic = [f"| {name} | {b / 1e6:.1f} |" for name, b in by_licence.most_common(12)]
    return "\n".join([
        f"Train: {manifest['train']['files']:,} files, {manifest['train']['bytes'] / 1e6:.0f} MB; "
        f"held-out: {manifest['heldout']['files']:,} files, {manifest['heldout']['bytes'] / 1e6:.1f} MB "
        "(split by file, deduplicated by content; HumanEval and `shared/data` excluded).",
        "", "| package | files | MB | licence |", "|---|---|---|---|", *rows,
        "", "| licence (as declared) | MB |", "|---|---|", *lic,
    ])


def model_section(run: Path) -> tuple[str, dict]:
    cfg = json.loads((run / "model" / "config.json").read_text())
    state = json.loads((run / "state.json").read_text())
    log = read_log(run)
    last_held = [r for r in log if "heldout" in r][-1]
    tc = state["config"]
    params = cfg["vocab_size"] * cfg["hidden_size"] + cfg["num_hidden_layers"] * (
        4 * cfg["hidden_size"] ** 2 * (1 + cfg["num_key_value_heads"] / cfg["num_attention_heads"]) / 2
        + 3 * cfg["hidden_size"] * cfg["intermediate_size"] + 2 * cfg["hidden_size"])
    before = tc.get("tokens_before", 0)
    facts = {"kind": cfg["dllm"]["kind"], "tokens_seen": before + state["step"] * tc["batch"] * tc["seq_len"] * tc["accum"],
             "steps": state["step"], "final_heldout_loss": round(last_held["heldout"], 4),
             "final_train_loss": round(log[-1]["loss"], 4), "params_approx": int(params)}
    run_tokens = facts["tokens_seen"] - before
    adapted = cfg["dllm"].get("adapted_from")
    if adapted:
        continued = (f" (initialised from the AR model `{adapted['name']}` after its {adapted['tokens_seen'] / 1e6:.1f}M "
                     "tokens, attention made bidirectional and outputs shifted by one, as Dream 7B was from Qwen2.5)")
    else:
        continued = f" (continued from weights that had seen {before / 1e6:.1f}M)" if before else ""
    text = (f"- `{cfg['dllm']['name']}` ({facts['kind']}): {cfg['num_hidden_layers']} layers, dim {cfg['hidden_size']}, "
            f"{cfg['num_attention_heads']} heads / {cfg['num_key_value_heads']} KV heads, SwiGLU {cfg['intermediate_size']}, "
            f"vocabulary {cfg['vocab_size']}, tied embeddings, context {tc['seq_len']}; about {params / 1e6:.1f}M "
            f"parameters; {facts['tokens_seen'] / 1e6:.1f}M tokens seen, the last {run_tokens / 1e6:.1f}M in "
            f"{facts['steps']} steps of {tc['batch']}x{tc['seq_len']}{continued}; "
            f"AdamW lr {tc['lr']} (warm-up {tc['warmup_steps']}, cosine), bf16 autocast={tc['autocast_bf16']}; "
            f"final held-out loss {facts['final_heldout_loss']}.")
    return text, facts


class RunError(Exception):
    """A run that cannot be packaged (the message is one line)."""


def check_run(run: Path, kind: str, weights: Path) -> str:
    """The name of a finished run of `kind` that loads, safe to copy into `weights`; RunError otherwise.
    Checked for every run before anything is written, so a bad run never half-replaces a model."""
    from dllm_complete import dllm

    for need in ("model/config.json", "state.json", "log.jsonl", "manifest.json"):
        if not (run / need).is_file():
            raise RunError(f"{run}: no {need} (not a finished training run)")
    if not any("heldout" in r for r in read_log(run)):
        raise RunError(f"{run}: its log has no held-out loss yet (an unfinished run)")
    try:
        loaded = dllm.load(str(run / "model"), device="cpu")
    except Exception as exc:  # a missing shard, a bad config...: the run is not usable as it is
        raise RunError(f"{run}/model does not load: {str(exc).splitlines()[0]}") from None
    if loaded.info["kind"] != kind:
        raise RunError(f"{run}: its model is {loaded.info['kind']}, not {kind}")
    name = json.loads((run / "model" / "config.json").read_text())["dllm"]["name"]
    there = weights / name / "config.json"
    if there.is_file() and json.loads(there.read_text()).get("dllm", {}).get("kind", "diffusion") != kind:
        raise RunError(f"{weights / name} holds a model of another kind: name the run (fit --name) apart")
    return name


def twin_pointer(name: str, card_of: str) -> str:
    return (f"# {name}\n\nThe autoregressive twin of `{card_of}`: same size, tokenizer, corpus and token budget. "
            f"Its facts (architecture, tokens seen, compute, loss curves, corpus, evaluation) are in the card "
            f"they share: [../{card_of}/README.md](../{card_of}/README.md).\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m dllm_complete.dllm.train.card")
    p.add_argument("--run", required=True, help="diffusion run directory")
    p.add_argument("--twin", help="AR twin run directory")
    p.add_argument("--eval", help="JSON file with evaluation results to include")
    p.add_argument("--compute", default=f"CPU ({platform.processor() or platform.machine()}), 1 thread per model")
    p.add_argument("--weights", type=Path, default=WEIGHTS, help=f"where the model folders go (default {WEIGHTS})")
    args = p.parse_args(argv)
    runs = [Path(args.run)] + ([Path(args.twin)] if args.twin else [])
    try:
        names = [check_run(run, kind, args.weights) for run, kind in zip(runs, ("diffusion", "ar"))]
        if len(set(names)) < len(names):
            raise RunError(f"both runs are named {names[0]!r}: name them apart (fit --name)")
        if args.eval and not Path(args.eval).is_file():
            raise RunError(f"--eval {args.eval}: no such file")
    except RunError as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    weights = args.weights
    sections, logs = [], {}
    for run, name in zip(runs, names):
        dest = weights / name
        dest.mkdir(parents=True, exist_ok=True)
        for stale in dest.glob("model*.safetensors*"):
            stale.unlink()
        shards = [f.name for f in (run / "model").glob("model*.safetensors*")]
        for f in ("config.json", "tokenizer.json", *shards):
            shutil.copy(run / "model" / f, dest / f)
        text, facts = model_section(run)
        sections.append(text)
        logs[name] = read_log(run)
        (dest / "training.json").write_text(json.dumps(facts, indent=1))
        held = json.loads((run / "manifest.json").read_text()).get("heldout_paths")
        if held:  # so that a later run continuing from these weights keeps their held-out split
            (dest / "heldout.json").write_text(json.dumps({"heldout_paths": held}, indent=0))
    main_dir = weights / names[0]
    plot_losses(logs, main_dir / "loss.png")
    evals = json.loads(Path(args.eval).read_text()) if args.eval else {}
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    card = "\n".join([
        f"# {main_dir.name}", "",
        "A masked-diffusion code model trained by `python -m dllm_complete.dllm.train` for inline infilling, "
        "with an autoregressive twin of the same size, tokenizer, corpus and token budget.", "",
        "## Models", *sections, f"- Compute: {args.compute}.", "",
        "## Loss curves", "![training and held-out loss](loss.png)", "",
        "## Corpus", corpus_table(manifest), "",
        "## Evaluation", "```json", json.dumps(evals, indent=1), "```", "",
    ])
    (main_dir / "README.md").write_text(card)
    for name in names[1:]:  # the twin's folder points to the card they share
        (weights / name / "README.md").write_text(twin_pointer(name, main_dir.name))
    print(main_dir / "README.md")


if __name__ == "__main__":
    main()
