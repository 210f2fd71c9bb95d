"""`python -m dllm_complete.dllm.train` — corpus, tokenizer and model training from the command line.

  python -m dllm_complete.dllm.train tokenizer --out runs/tok --vocab-sizes 4096,8192,16384
  python -m dllm_complete.dllm.train fit --kind diffusion --tokenizer runs/tok/tokenizer.json --out runs/dllm ...
  python -m dllm_complete.dllm.train trajectories --n 8000 --out runs/distill/teacher.jsonl
  python -m dllm_complete.dllm.train fit --kind diffusion --init-from dllm/weights/dllm-code-small \
      --distill runs/distill/teacher.jsonl --certainty 1.0 --out runs/distill ...
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint
from ..contract import first_line
from ..model import ModelConfig, Transformer
from ..tokenizer import Tokenizer
from .bpe import train_bpe
from .corpus import collect, default_roots, manifest, split_by_file, write_manifest
from .distill import certainty_loss, distill_batch, read_trajectories, trajectories
from .objective import ar_batch, diffusion_batch
from .sizes import SIZES
from .trainer import TrainConfig, train


def corpus_split(seed: int, heldout_fraction: float, out: Path | None = None, heldout_manifest: str | None = None):
    roots = default_roots()
    files = collect(roots)
    held_paths = set(json.loads(Path(heldout_manifest).read_text())["heldout_paths"]) if heldout_manifest else None
    train_files, held_files = split_by_file(files, heldout_fraction, seed, held_paths)
    if not held_files:
        raise SystemExit(f"none of the held-out files of {heldout_manifest} is in this corpus ({len(files)} files)")
    if out is not None:
        write_manifest(out / "manifest.json", manifest(train_files, held_files, roots))
    return train_files, held_files


def cmd_tokenizer(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_files, held_files = corpus_split(args.seed, args.heldout, out)
    rng = random.Random(args.seed)
    sample = rng.sample(train_files, min(len(train_files), args.sample_files))
    held_text = [f.text for f in held_files[:400]]
    held_bytes = sum(len(t.encode()) for t in held_text)
    report = []
    for size in args.vocab_sizes:
        t0 = time.perf_counter()
        tok = train_bpe((f.text for f in sample), size)
        n_tokens = sum(len(e.ids) for e in tok.encode_batch(held_text))
        ok = all(tok.decode(tok.encode(t).ids) == t for t in held_text[:50])
        report.append({"vocab_size": size, "bytes_per_token": round(held_bytes / n_tokens, 3),
                       "roundtrip_exact": ok, "train_s": round(time.perf_counter() - t0, 1)})
        tok.save(str(out / f"tokenizer-{size}.json"))
        print(json.dumps(report[-1]), file=sys.stderr)
    (out / "tokenizer_report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


def adapted_to_diffusion(ar: Transformer) -> Transformer:
    """The AR twin's weights under bidirectional attention; trained on with shifted targets (Dream's recipe)."""
    model = Transformer(dataclasses.replace(ar.cfg, causal=False))
    model.load_state_dict(ar.state_dict())
    return model


NEW_POSITIONS = 4096  # a fresh model's positions (its RoPE table); the seq-len it trains on must fit


def held_out_of(args) -> str | None:
    """The held-out split to keep: --heldout-manifest, else the resumed run's own, else the one beside
    the weights a run continues (`card` writes heldout.json), else None (a new split)."""
    if args.heldout_manifest:
        return args.heldout_manifest
    kept = [args.resume and Path(args.resume) / "manifest.json", args.init_from and Path(args.init_from) / "heldout.json"]
    found = next((str(path) for path in kept if path and path.is_file()), None)
    if found:
        print(f"held out: the files of {found}", file=sys.stderr)
    return found


def cmd_fit(args) -> None:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_files, held_files = corpus_split(args.seed, args.heldout, out, held_out_of(args))
    tokens_before, shift, provenance, context = 0, False, {}, 0
    if args.resume:  # the run's own weights; its tokens_before, not the checkpoint's tokens_seen
        args.init_from = str(Path(args.resume) / "model")
    if args.init_from:
        loaded = load_checkpoint(args.init_from, device="cpu", dtype="float32")
        model, tok = loaded.model, loaded.tokenizer
        spec, shift = loaded.spec, loaded.spec.logits_shift
        if args.seq_len > model.cfg.max_seq_len:
            raise ValueError(f"--seq-len {args.seq_len}: the model has {model.cfg.max_seq_len} positions")
        context = max(args.seq_len, spec.context_tokens)  # a shorter fine-tune keeps the context it read
        meta = json.loads((Path(args.init_from) / "config.json").read_text()).get("dllm", {})  # what the spec omits
        tokens_before = meta.get("tokens_seen", 0)
        provenance = {"adapted_from": meta["adapted_from"]} if "adapted_from" in meta else {}
        if spec.kind != args.kind:
            if args.kind != "diffusion":
                raise SystemExit("--init-from: only an AR model can be adapted (into a diffusion model)")
            model, shift = adapted_to_diffusion(model), True
            provenance = {"adapted_from": {"name": spec.name, "tokens_seen": tokens_before}}
        model.requires_grad_(True)
    else:
        tok = Tokenizer.from_file(args.tokenizer)
        dim, layers, heads, kv, inter = SIZES[args.size]
        cfg = ModelConfig(vocab_size=tok.vocab_size, dim=dim, n_layers=layers, n_heads=heads, n_kv_heads=kv,
                          intermediate_size=inter, tie_embeddings=True, causal=args.kind == "ar",
                          max_seq_len=NEW_POSITIONS)
        model = Transformer(cfg)
        model.init_weights(args.seed)
    if args.resume:
        tokens_before = json.loads((Path(args.resume) / "state.json").read_text())["config"]["tokens_before"]
    make = (functools.partial(diffusion_batch, shift=shift, infill_fraction=args.hole_fraction)
            if args.kind == "diffusion" else functools.partial(ar_batch, fim_fraction=args.hole_fraction))
    loss_fn = None
    if args.distill:  # certainty-forcing self-distillation on the model's own canvases (distill.py)
        if args.kind != "diffusion" or not args.init_from:
            raise SystemExit("--distill: continue a diffusion model (--init-from or --resume)")
        records = read_trajectories(Path(args.distill))  # held-out batches: these too, beside held-out plain rows
        make = lambda tok, files, rng, b, n: distill_batch(tok, records, files, rng, b, n,  # noqa: E731
                                                           args.plain_fraction, shift, args.only_right)
        loss_fn = functools.partial(certainty_loss, certainty=args.certainty)
    tcfg = TrainConfig(kind=args.kind, name=args.name, out=out, total_tokens=args.tokens, batch=args.batch,
                       seq_len=args.seq_len, accum=args.accum, lr=args.lr, warmup_steps=args.warmup,
                       eval_every=args.eval_every, ckpt_every=args.ckpt_every, autocast_bf16=args.bf16,
                       seed=args.seed, tokens_before=tokens_before, device=args.device,
                       workers=args.workers, stop_at_tokens=args.stop_at, compile=args.compile, logits_shift=shift,
                       provenance=provenance, context_tokens=context)
    print(f"{args.name}: {model.num_params():,} parameters ({model.num_params(False):,} without embeddings), "
          f"{tcfg.steps} steps of {tcfg.tokens_per_step} tokens", file=sys.stderr)
    train(model, tok, tcfg,
          batch_fn=lambda rng, b: make(tok, train_files, rng, b, args.seq_len),
          heldout_fn=lambda rng, b: make(tok, held_files, rng, b, args.seq_len),
          resume=Path(args.resume) if args.resume else None, loss_fn=loss_fn)


def cmd_trajectories(args) -> None:
    from .. import load
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {out}: a directory (trajectories go to a .jsonl file)")
    if args.heldout_manifest and not Path(args.heldout_manifest).is_file():
        raise ValueError(f"--heldout-manifest {args.heldout_manifest}: no such file")
    engine = load(args.model)
    if engine.info["kind"] != "diffusion":
        raise ValueError(f"--model {args.model}: trajectories come from a diffusion model, not an AR one")
    train_files, _ = corpus_split(args.seed, args.heldout, heldout_manifest=args.heldout_manifest)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n = trajectories(engine, engine.tokenizer, train_files, args.n, args.seed, args.context, out)
    print(json.dumps({"trajectories": n, "out": str(out), "seconds": round(time.perf_counter() - t0, 1)}))


def _sizes(text: str) -> list[int]:
    """An argparse type: vocabulary sizes, comma-separated, each above the 256 bytes a byte-level BPE starts from."""
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 4096,8192, got {text!r}") from None
    if min(sizes) <= 256:
        raise argparse.ArgumentTypeError(f"each size must be > 256 (the bytes it starts from), got {text!r}")
    return sizes


def _whole(least: int):
    """An argparse type: an integer >= `least`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < least:
            raise argparse.ArgumentTypeError(f"expected an integer >= {least}, got {text!r}")
        return value
    return parse


def _share(low_open: bool = False):
    """An argparse type: a number in [0, 1] ((0, 1] with `low_open`)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (0 < value <= 1 if low_open else 0 <= value <= 1):
            raise argparse.ArgumentTypeError(f"expected a number in {'(0' if low_open else '[0'}, 1], got {text!r}")
        return value
    return parse


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


RESUMED_AS_RUN = {"kind": "kind", "batch": "batch", "seq_len": "seq-len", "accum": "accum", "total_tokens": "tokens",
                  "lr": "lr", "warmup_steps": "warmup", "seed": "seed"}


def _schedule_changes(state: Path, args) -> str | None:
    """The options a resumed run was started with that `args` change (steps would no longer count the
    same tokens), as "--batch 16, --tokens 20000000"; None when none (or the state cannot be read)."""
    try:
        saved = json.loads(state.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    given = {"kind": args.kind, "batch": args.batch, "seq_len": args.seq_len, "accum": args.accum,
             "total_tokens": args.tokens, "lr": args.lr, "warmup_steps": args.warmup, "seed": args.seed}
    changed = [f"--{flag} {saved[key]}" for key, flag in RESUMED_AS_RUN.items() if key in saved and saved[key] != given[key]]
    return ", ".join(changed) or None


def check_fit(args) -> str | None:
    """What is wrong with `fit`'s options, in one line, before the corpus is read or anything written."""
    if not (args.tokenizer or args.init_from or args.resume):
        return "fit needs --tokenizer (a fresh model), --init-from or --resume"
    for flag, path in (("--tokenizer", args.tokenizer), ("--heldout-manifest", args.heldout_manifest),
                       ("--distill", args.distill)):
        if path and not Path(path).is_file():
            return f"{flag} {path}: no such file"
    for flag, path in (("--init-from", args.init_from), ("--resume", args.resume)):
        if path and not Path(path).is_dir():
            return f"{flag} {path}: no such directory"
    if args.resume and not (Path(args.resume) / "state.json").is_file():
        return f"--resume {args.resume}: not a run directory (no state.json)"
    if args.resume and (changed := _schedule_changes(Path(args.resume) / "state.json", args)):
        return f"--resume {args.resume}: the run's schedule was {changed}; resume it with the same"
    elsewhere = not args.resume or Path(args.out).resolve() != Path(args.resume).resolve()
    if elsewhere and (Path(args.out) / "state.json").is_file():
        return f"--out {args.out} holds a run already: continue it with --resume {args.out}, or choose another --out"
    if Path(args.out).exists() and not Path(args.out).is_dir():
        return f"--out {args.out}: not a directory"
    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError):
        return f"--device {args.device!r}: expected cpu, cuda or cuda:N"
    if device.type not in ("cpu", "cuda"):
        return f"--device {args.device!r}: expected cpu, cuda or cuda:N"
    if device.type == "cuda" and not torch.cuda.is_available():
        return f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA GPU"
    if not (args.init_from or args.resume) and args.seq_len > 4096:
        return f"--seq-len {args.seq_len}: a new model has {NEW_POSITIONS} positions"
    return None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m dllm_complete.dllm.train")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokenizer", help="train byte-level BPE tokenizers and measure compression")
    t.add_argument("--out", required=True)
    t.add_argument("--vocab-sizes", type=_sizes, default=[4096, 8192, 16384], help="comma-separated, each > 256")
    t.add_argument("--sample-files", type=_whole(1), default=3000)
    f = sub.add_parser("fit", help="train a diffusion model or its AR twin")
    f.add_argument("--kind", choices=["diffusion", "ar"], required=True)
    f.add_argument("--name", default="dllm-code-small")
    f.add_argument("--out", required=True)
    f.add_argument("--tokenizer")
    f.add_argument("--size", choices=sorted(SIZES), default="small")
    f.add_argument("--init-from", help="continue from a saved model directory (e.g. the shipped weights); "
                   "an AR model with --kind diffusion is adapted into a diffusion model")
    f.add_argument("--resume", help="continue this run directory (its model, optimizer.safetensors and state.json) "
                   "with the same settings")
    f.add_argument("--stop-at", type=_whole(0), default=0, metavar="TOKENS",
                   help="stop after this many tokens, the schedule still spanning --tokens (finish with --resume)")
    f.add_argument("--heldout-manifest", help="hold out exactly the files of this manifest.json (default: the "
                   "resumed run's own, else the heldout.json beside --init-from's weights, else a new split)")
    f.add_argument("--tokens", type=_whole(1), default=20_000_000)
    f.add_argument("--hole-fraction", type=_share(), default=0.5,
                   help="share of rows that are holes to fill (diffusion: infilling canvases; AR: FIM rows); "
                   "the rest are plain text windows")
    f.add_argument("--batch", type=_whole(1), default=16)
    f.add_argument("--seq-len", type=_whole(8), default=256)
    f.add_argument("--accum", type=_whole(1), default=1)
    f.add_argument("--lr", type=_rate, default=2e-3)
    f.add_argument("--warmup", type=_whole(0), default=100)
    f.add_argument("--eval-every", type=_whole(1), default=100)
    f.add_argument("--ckpt-every", type=_whole(1), default=200)
    f.add_argument("--threads", type=_whole(1), default=1)
    f.add_argument("--bf16", action="store_true", help="bf16 autocast")
    f.add_argument("--compile", action="store_true", help="torch.compile the forward (bench/train_step.py measures it)")
    f.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    f.add_argument("--workers", type=_whole(0), default=0, help="processes building batches ahead (for a GPU)")
    f.add_argument("--distill", metavar="JSONL", help="fine-tune on these teacher canvases (`trajectories`) with "
                   "certainty forcing; the rest of each batch (--plain-fraction) ordinary diffusion rows")
    f.add_argument("--certainty", type=_rate, default=1.0, help="weight of the entropy of right guesses (--distill)")
    f.add_argument("--plain-fraction", type=_share(), default=0.25, help="share of ordinary rows (--distill)")
    f.add_argument("--only-right", action="store_true", help="force certainty only where the teacher wrote the "
                   "hole's real middle (--distill; trajectories with a truth field)")
    d = sub.add_parser("trajectories", help="the model's own canvases on training-corpus holes (for --distill)")
    d.add_argument("--model", help="teacher checkpoint (default: the embedded model)")
    d.add_argument("--n", type=_whole(1), default=8000)
    d.add_argument("--context", type=_whole(32), default=256, help="prefix + canvas + suffix tokens")
    d.add_argument("--out", required=True)
    d.add_argument("--threads", type=_whole(1), default=2)
    d.add_argument("--heldout-manifest")
    for q in (t, f, d):
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--heldout", type=_share(low_open=True), default=0.01)
    args = p.parse_args(argv)
    if args.cmd == "fit" and (problem := check_fit(args)):
        p.error(problem)
    try:
        {"tokenizer": cmd_tokenizer, "fit": cmd_fit, "trajectories": cmd_trajectories}[args.cmd](args)
    except ValueError as exc:  # a checkpoint or a file that cannot be used (CheckpointError among them)
        p.exit(2, f"{p.prog}: error: {first_line(exc)}\n")
    except KeyboardInterrupt:  # the last checkpoint stands: --resume continues from it
        p.exit(130, f"{p.prog}: interrupted (the last checkpoint stands: continue with --resume)\n")


if __name__ == "__main__":
    main()
