"""Local checkpoint directories <-> `Transformer` + `Tokenizer`, without running any repo code.

A checkpoint is a Hugging Face-layout directory: config.json, model.safetensors (or shards with an
index), and tokenizer.json (or a byte-level BPE's vocab.json + merges.txt with tokenizer_config.json,
as Dream's family publishes it). Its family (`families.py`: ours, Dream / Dream-Coder / DiffuCoder /
DreamOn, Open-dCoder, LLaDA, CoDA) decides the tensor names, the logit shift and the special tokens.
Weights are read with safetensors only; `trust_remote_code` does not exist here. Device and dtype
are decided once, in `choose_device`; the CPU thread policy in `threads.choose`.
"""

from __future__ import annotations

import dataclasses
import threading
import functools
import json
import math
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from . import allocator, threads
from .contract import first_line
from .families import Family, UnsupportedCheckpoint, detect
from .model import ModelConfig, Transformer
from .tokenizer import SpecialIds, Tokenizer, own_special_ids

EMBEDDED = Path(__file__).parent / "weights"
DEFAULT_MODEL = EMBEDDED / "dllm-code-small"
MAX_LAYERS = 1024  # beyond any published model: a config claiming more is broken (10^5 layers took minutes to build)
MAX_SIZE = 1 << 20  # the same for a width, head count or vocabulary (torch cannot even size 2^40 x 2^40)
MAX_POSITIONS = 1 << 17  # rotary tables for at most this many positions (a claimed 2*10^7 took 4.6 GB); reads stop far sooner
QWEN2_TYPES = {"qwen2", "dream"}
QWEN3_TYPES = {"qwen3", "coda"}
# Qwen2's pre-tokenizer (transformers' Qwen2Tokenizer), for directories that ship vocab.json + merges.txt only
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


class CheckpointError(ValueError):
    """A checkpoint directory that is missing, incomplete or corrupt (message is one line)."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the engine needs to know about a checkpoint beyond the tensor shapes."""
    name: str
    kind: str  # "diffusion" or "ar"
    logits_shift: bool  # position i predicts token i+1 (Dream's convention, `families.py`)
    family: str
    context_tokens: int  # prefix + canvas + suffix length the model was trained for
    layout: str = "llama"  # tensor names and block shape (`model_config`)


@dataclasses.dataclass
class Loaded:
    model: Transformer
    tokenizer: Tokenizer
    spec: ModelSpec
    threads: threads.Threads = dataclasses.field(default_factory=threads.Threads)  # set before each infill
    # one infill at a time: its forwards share the model's key/value cache (another thread's call waits)
    busy: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def info(self) -> dict:
        p = self.model.embed_tokens.weight
        info = {"model": self.spec.name, "kind": self.spec.kind, "family": self.spec.family, "device": str(p.device),
                "dtype": str(p.dtype).removeprefix("torch."), "params": self.model.num_params()}
        if p.device.type == "cpu":  # a process-wide setting the load made (`allocator.py`)
            info["malloc"] = "glibc thresholds pinned" if allocator.keep_temporaries_mapped() else "default"
            info["onednn_primitive_cache"] = allocator.cap_primitive_cache()
            info["ideep_cache"] = allocator.cap_ideep_cache()
            info.update(self.threads.info)
        return info


@functools.cache
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has bf16 dot-product instructions (AVX512-BF16 or AMX-BF16; Linux only)."""
    try:
        return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo.read_text()) is not None
    except OSError:
        return False


def choose_device(device: str | None = None, dtype: str | None = None,
                  stored: torch.dtype | None = None) -> tuple[torch.device, torch.dtype]:
    """CUDA + bf16 when available. On the CPU bf16 for weights stored in bf16 where the CPU has native
    bf16 instructions (measured 1.8-1.9x faster than float32 at equal output, kernels/README.md),
    else float32 (emulated bf16 is slower; float32 weights stay float32)."""
    try:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError:
        raise ValueError(f"unknown device {device!r} (cpu or cuda)") from None
    if dev.type not in ("cpu", "cuda"):  # torch knows more (mps, xpu, meta...); the engine runs on these two
        raise ValueError(f"unsupported device {device!r} (cpu or cuda)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: this torch ({torch.__version__}) sees no CUDA GPU")
    if dtype:
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
        return dev, getattr(torch, dtype)
    if dev.type == "cuda" or (stored == torch.bfloat16 and cpu_has_native_bf16()):
        return dev, torch.bfloat16
    return dev, torch.float32


def resolve(model: str | Path) -> Path:
    """A checkpoint directory; a bare name that is no directory here names an embedded model."""
    path = Path(model).expanduser()
    if not path.is_dir() and len(path.parts) == 1 and (EMBEDDED / path).is_dir():
        return EMBEDDED / path
    return path


def _read_config(path: Path) -> dict:
    cfg_path = path / "config.json"
    if not path.is_dir():
        embedded = ", ".join(sorted(d.name for d in EMBEDDED.iterdir() if (d / "config.json").is_file()))
        found = f"{path} is not a directory" if path.exists() else f"model directory not found: {path}"
        raise CheckpointError(f"{found} (embedded models: {embedded})")
    if not cfg_path.is_file():
        run = (path / "model" / "config.json").is_file()  # a training run's folder: its model is inside
        raise CheckpointError(f"{path} has no config.json" + (f" (a training run: its model is {path / 'model'})" if run else ""))
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{cfg_path} is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("dllm", {}), dict):
        raise CheckpointError(f"{cfg_path} is not a config: a JSON object (with an object under \"dllm\") is expected")
    return cfg


def model_config(cfg: dict) -> tuple[ModelConfig, str]:
    """(ModelConfig, layout) from a Hugging Face config dict; layout: llama, qwen2, qwen3 or llada."""
    mtype = str(cfg.get("model_type", "llama")).lower()
    try:
        if mtype == "llada":
            layout = "llada"
            sizes = dict(vocab_size=cfg.get("embedding_size") or cfg["vocab_size"], dim=cfg["d_model"],
                         n_layers=cfg["n_layers"], n_heads=cfg["n_heads"],
                         n_kv_heads=cfg.get("n_kv_heads") or cfg["n_heads"],
                         intermediate_size=cfg["mlp_hidden_size"], rope_theta=cfg.get("rope_theta", 10000.0),
                         norm_eps=cfg.get("rms_norm_eps", 1e-5), qkv_bias=bool(cfg.get("include_bias", False)),
                         tie_embeddings=bool(cfg.get("weight_tying", False)),
                         max_seq_len=cfg.get("max_sequence_length", 4096))
        else:
            layout = "qwen2" if mtype in QWEN2_TYPES else "qwen3" if mtype in QWEN3_TYPES else "llama"
            sizes = dict(vocab_size=cfg["vocab_size"], dim=cfg["hidden_size"], n_layers=cfg["num_hidden_layers"],
                         n_heads=cfg["num_attention_heads"],
                         n_kv_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
                         intermediate_size=cfg["intermediate_size"], rope_theta=cfg.get("rope_theta", 10000.0),
                         norm_eps=cfg.get("rms_norm_eps", 1e-6),
                         qkv_bias=layout == "qwen2" or bool(cfg.get("attention_bias", False)),
                         tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
                         causal=cfg.get("dllm", {}).get("kind") == "ar",
                         max_seq_len=cfg.get("max_position_embeddings", 4096),
                         head_size=cfg.get("head_dim"), qk_norm=layout == "qwen3")
    except KeyError as exc:
        raise CheckpointError(f"config.json lacks {exc.args[0]!r}") from None
    _check_sizes(sizes)
    try:
        return ModelConfig(**{**sizes, "max_seq_len": min(sizes["max_seq_len"], MAX_POSITIONS)}), layout
    except ValueError as exc:  # heads that do not divide the width
        raise CheckpointError(f"config.json: {exc}") from None


def _check_sizes(sizes: dict) -> None:
    """CheckpointError naming the first of a config's sizes (ModelConfig's names) no model can have."""
    def whole(v) -> bool:
        return type(v) is int and v >= 1

    def number(v, least: float) -> bool:
        return type(v) in (int, float) and math.isfinite(v) and v >= least
    for name in ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "intermediate_size", "max_seq_len"):
        if not whole(sizes[name]):
            raise CheckpointError(f"config.json: {name} must be a positive integer, got {sizes[name]!r}")
        if name != "max_seq_len" and sizes[name] > MAX_SIZE:
            raise CheckpointError(f"config.json: {name} {sizes[name]} is larger than any model this loads ({MAX_SIZE})")
    if sizes.get("head_size") is not None and not whole(sizes["head_size"]):
        raise CheckpointError(f"config.json: head_dim must be a positive integer, got {sizes['head_size']!r}")
    if sizes["n_layers"] > MAX_LAYERS:
        raise CheckpointError(f"config.json: {sizes['n_layers']} layers, more than any model this loads ({MAX_LAYERS})")
    if not number(sizes["rope_theta"], 1e-9) or not number(sizes["norm_eps"], 0):
        raise CheckpointError(f"config.json: rope_theta must be a finite number > 0 and the norm's epsilon one >= 0, "
                              f"got {sizes['rope_theta']!r} and {sizes['norm_eps']!r}")


_LLADA_NAMES = [
    (r"^model\.transformer\.wte\.", "embed_tokens."),
    (r"^model\.transformer\.ln_f\.", "norm."),
    (r"^model\.transformer\.ff_out\.", "lm_head."),
    (r"^model\.transformer\.blocks\.(\d+)\.attn_norm\.", r"layers.\1.input_layernorm."),
    (r"^model\.transformer\.blocks\.(\d+)\.ff_norm\.", r"layers.\1.post_attention_layernorm."),
    (r"^model\.transformer\.blocks\.(\d+)\.([qkv])_proj\.", r"layers.\1.self_attn.\2_proj."),
    (r"^model\.transformer\.blocks\.(\d+)\.attn_out\.", r"layers.\1.self_attn.o_proj."),
    (r"^model\.transformer\.blocks\.(\d+)\.ff_proj\.", r"layers.\1.mlp.gate_proj."),
    (r"^model\.transformer\.blocks\.(\d+)\.up_proj\.", r"layers.\1.mlp.up_proj."),
    (r"^model\.transformer\.blocks\.(\d+)\.ff_out\.", r"layers.\1.mlp.down_proj."),
]


def our_name(name: str, layout: str) -> str:
    """Map a checkpoint tensor name onto `Transformer`'s parameter names."""
    if layout == "llada":
        for pattern, repl in _LLADA_NAMES:
            new, n = re.subn(pattern, repl, name)
            if n:
                return new
        return name
    return name.removeprefix("model.")


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError):
            shards = []
        if not shards or not all(isinstance(shard, str) for shard in shards):
            raise CheckpointError(f"{index} is not a shard index (a JSON object with a non-empty weight_map)")
        return [path / s for s in shards]
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"{path} holds no *.safetensors weights")
    return files


def stored_dtype(path: Path) -> torch.dtype | None:
    """The dtype of the first floating-point tensor in the checkpoint's weights (None if unreadable)."""
    names = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}
    try:
        with safe_open(str(_weight_files(path)[0]), framework="pt", device="cpu") as f:
            for key in f.keys():
                kind = f.get_slice(key).get_dtype()
                if kind in names:
                    return names[kind]
    except (SafetensorError, OSError, CheckpointError):
        return None
    return None


def load_weights(model: Transformer, path: Path, layout: str, dtype: torch.dtype, device: torch.device) -> None:
    """The checkpoint's tensors become the model's parameters (so `model` may live on the meta device)."""
    expected = dict(model.named_parameters())
    state: dict[str, torch.Tensor] = {}
    for file in _weight_files(path):
        if not file.is_file():
            raise CheckpointError(f"missing weight shard {file.name}")
        try:
            with safe_open(str(file), framework="pt", device="cpu") as f:
                for key in f.keys():
                    name = our_name(key, layout)
                    if name not in expected:
                        if "rotary_emb" in name:
                            continue
                        raise CheckpointError(f"unexpected tensor {key!r} in {file.name}")
                    tensor = f.get_tensor(key)
                    param = expected[name]
                    if tuple(tensor.shape) != tuple(param.shape):
                        raise CheckpointError(f"tensor {key!r} has shape {tuple(tensor.shape)}, "
                                              f"expected {tuple(param.shape)}")
                    # a copy in torch's own (64-byte aligned) storage, as the copy into to_empty storage was;
                    # safetensors' buffers are 32-byte aligned (an A/B here showed no difference)
                    state[name] = tensor.to(device=device, dtype=dtype, copy=True)
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"corrupt weights in {file.name}: {exc}") from None
    tied = {"lm_head.weight"} if model.cfg.tie_embeddings else set()
    missing = set(expected) - set(state) - tied
    if missing:
        raise CheckpointError(f"weights missing for {len(missing)} tensors, e.g. {sorted(missing)[0]!r}")
    model.load_state_dict(state, strict=False, assign=True)
    if model.cfg.tie_embeddings:
        model.lm_head.weight = model.embed_tokens.weight


def read_tokenizer(path: Path) -> HFTokenizer:
    """tokenizer.json; or, where a family ships Qwen2's slow tokenizer files only, the same byte-level BPE
    rebuilt from vocab.json + merges.txt and the added tokens of tokenizer_config.json at their ids."""
    fast = (path / "tokenizer.json").is_file()
    if not fast and not ((path / "vocab.json").is_file() and (path / "merges.txt").is_file()):
        raise CheckpointError(f"{path} has no tokenizer.json (nor vocab.json + merges.txt)")
    try:
        return HFTokenizer.from_file(str(path / "tokenizer.json")) if fast else _rebuilt_bpe(path)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - tokenizers raises plain Exceptions
        what = "tokenizer.json" if fast else "vocab.json + merges.txt"
        raise CheckpointError(f"cannot read {what}: {first_line(exc)}") from None


def _rebuilt_bpe(path: Path) -> HFTokenizer:
    config_path = path / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    kind = config.get("tokenizer_class") or "unnamed"
    if kind not in ("Qwen2Tokenizer", "Qwen2TokenizerFast", "DreamTokenizer"):
        raise CheckpointError(f"{path} has no tokenizer.json, and its {kind} tokenizer is not Qwen2's byte-level BPE")
    tok = HFTokenizer(models.BPE.from_file(str(path / "vocab.json"), str(path / "merges.txt")))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    added = {int(i): d["content"] for i, d in config.get("added_tokens_decoder", {}).items()}
    if not added and (path / "added_tokens.json").is_file():
        added = {i: text for text, i in json.loads((path / "added_tokens.json").read_text()).items()}
    for i, text in sorted(added.items()):
        tok.add_special_tokens([AddedToken(text, special=True, normalized=False)])
        if tok.token_to_id(text) != i:
            raise CheckpointError(f"added token {text!r} has id {i} in {path.name}, {tok.token_to_id(text)} rebuilt")
    return tok


def special_ids(cfg: dict, hf: HFTokenizer, vocab: dict[str, int], family: Family) -> SpecialIds:
    """The ids the engine needs, by the family's conventions (config.json's ids first where it has them);
    `vocab`: the tokenizer's text -> id, added tokens included."""
    if family.name == "dllm-complete":
        return own_special_ids(hf)
    mask = cfg.get("mask_token_id")
    mask = mask if isinstance(mask, int) else vocab.get(family.mask)
    eom = vocab.get(family.filler)
    if mask is None or eom is None:
        raise UnsupportedCheckpoint(f"{family.name} checkpoint without its mask token {family.mask} "
                                    f"or its padding token {family.filler} in the tokenizer")
    stops = tuple(vocab[t] for t in family.stops if t in vocab)
    expand, bos, eos = (vocab.get(t) if t else None for t in (family.expand, family.bos, family.eos))
    added = {i for i, t in hf.get_added_tokens_decoder().items() if t.special}  # chat, FIM, tool, reserved tokens
    control = tuple(sorted(added - {eom, eos, expand, *stops}))
    return SpecialIds(mask=mask, eom=eom, bos=bos, eos=eos, stops=stops, expand=expand, control=control)


def describe(path: str | Path) -> tuple[ModelConfig, Tokenizer, ModelSpec]:
    """Everything about a checkpoint except its weights (cheap: reads config.json and the tokenizer)."""
    path = resolve(path)
    cfg = _read_config(path)
    hf = read_tokenizer(path)
    vocab = hf.get_vocab(with_added_tokens=True)  # a dict of the whole vocabulary: built once
    try:
        family = detect(cfg, vocab)
        tokenizer = Tokenizer(hf, special_ids(cfg, hf, vocab, family))
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    mc, layout = model_config(cfg)
    ours = cfg.get("dllm", {})
    spec = ModelSpec(name=str(ours.get("name", path.name)), kind=ours.get("kind", "diffusion"),
                     logits_shift=family.logits_shift, family=family.name,
                     context_tokens=ours.get("context_tokens", min(mc.max_seq_len, 4096)), layout=layout)
    _check_fit(mc, tokenizer, spec, vocab)
    return mc, tokenizer, spec


def _check_fit(mc: ModelConfig, tokenizer: Tokenizer, spec: ModelSpec, vocab: dict[str, int]) -> None:
    """CheckpointError where the tokenizer, the kind or the context does not fit the model."""
    if spec.kind not in ("diffusion", "ar"):
        raise CheckpointError(f"config.json: dllm.kind must be diffusion or ar, got {spec.kind!r}")
    highest = max(vocab.values(), default=0)
    sp = tokenizer.special
    special = [i for i in (sp.mask, sp.eom, sp.bos, sp.eos, sp.expand, *sp.stops, *sp.control) if i is not None]
    unfit = [i for i in (highest, *special) if not 0 <= i < mc.vocab_size]
    if unfit:
        raise CheckpointError(f"token id {unfit[0]} does not fit the model's {mc.vocab_size} embeddings")
    if type(spec.context_tokens) is not int or not 0 < spec.context_tokens <= mc.max_seq_len:
        raise CheckpointError(f"config.json: dllm.context_tokens must be an integer in 1..{mc.max_seq_len} "
                              f"(the model's positions), got {spec.context_tokens!r}")


def load_checkpoint(path: str | Path, device: str | None = None, dtype: str | None = None) -> Loaded:
    path = resolve(path)
    mc, tokenizer, spec = describe(path)
    dev, dt = choose_device(device, dtype, None if dtype else stored_dtype(path))
    policy = threads.choose(dev)  # before the weights: its first look at the free cores spans the load
    if dev.type == "cpu":
        allocator.keep_temporaries_mapped()
        allocator.cap_primitive_cache()
        allocator.cap_ideep_cache()
    with torch.device("meta"):
        model = Transformer(mc)
    load_weights(model, path, spec.layout, dt, dev)
    model.eval().requires_grad_(False)
    model.make_rope(dev)
    return Loaded(model, tokenizer, spec, policy)


def hf_config(mc: ModelConfig, special: SpecialIds, kind: str, name: str, extra: dict | None = None) -> dict:
    """config.json for our checkpoints: a Llama config transformers can load, plus a `dllm` section."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": mc.vocab_size, "hidden_size": mc.dim, "intermediate_size": mc.intermediate_size,
        "num_hidden_layers": mc.n_layers, "num_attention_heads": mc.n_heads,
        "num_key_value_heads": mc.n_kv_heads, "rms_norm_eps": mc.norm_eps, "rope_theta": mc.rope_theta,
        "tie_word_embeddings": mc.tie_embeddings, "max_position_embeddings": mc.max_seq_len,
        "attention_bias": mc.qkv_bias, "hidden_act": "silu", "torch_dtype": "bfloat16",
        "bos_token_id": special.bos, "eos_token_id": special.eom, "pad_token_id": special.eom,
        "dllm": {"kind": kind, "name": name, "logits_shift": False, "mask_token_id": special.mask,
                 "eom_token_id": special.eom, **(extra or {})},
    }


SHARD_BYTES = 15 * 2**20  # under the 25 MB a file the repository wants and the device's 16 MiB a file


def save_checkpoint(model: Transformer, tokenizer: Tokenizer, path: str | Path, kind: str, name: str,
                    dtype: torch.dtype = torch.bfloat16, extra: dict | None = None,
                    shard_bytes: int = SHARD_BYTES) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {("model." + k if k != "lm_head.weight" else k): v.detach().to("cpu", dtype).contiguous()
             for k, v in model.state_dict().items()}
    if model.cfg.tie_embeddings:
        state.pop("lm_head.weight", None)
    save_weights(state, path, shard_bytes)
    tokenizer.hf.save(str(path / "tokenizer.json"))
    cfg = hf_config(model.cfg, tokenizer.special, kind, name, extra)
    (path / "config.json").write_text(json.dumps(cfg, indent=1))
    return path


def save_weights(state: dict[str, torch.Tensor], path: Path, shard_bytes: int = SHARD_BYTES) -> list[Path]:
    """model.safetensors, or, past `shard_bytes`, Hugging Face's shards (tensors packed in order,
    model-0000k-of-0000n.safetensors) with model.safetensors.index.json; stale weight files go."""
    for old in [*path.glob("model*.safetensors"), path / "model.safetensors.index.json"]:
        old.unlink(missing_ok=True)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    if len(shards) == 1:
        names = ["model.safetensors"]
    else:
        names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
        total = sum(t.numel() * t.element_size() for t in state.values())
        index = {"metadata": {"total_size": total},
                 "weight_map": {key: file for file, shard in zip(names, shards) for key in shard}}
        (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    for file, shard in zip(names, shards):
        save_file(shard, str(path / file), metadata={"format": "pt"})
    return [path / f for f in names]
