"""Tiny random checkpoints laid out exactly as each diffusion family publishes its models (for tests).

Each directory holds what the family's Hugging Face repository holds, at toy sizes: config.json with
the family's own keys and special-token ids, generation_config.json, the weights under the family's
tensor names and dtype (bf16 shards for Dream's family, LLaDA's `model.transformer.blocks.N.*`, CoDA's
float32 with q/k norms), and the tokenizer in the family's format (Dream's slow vocab.json +
merges.txt with tokenizer_config.json, or a tokenizer.json) with the family's special tokens in their
published order after a small byte-level BPE vocabulary. docs/models.md lists the sources.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from .checkpoint import QWEN2_SPLIT
from .testing import SAMPLE_CODE

QWEN25_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
                  "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                  "<|repo_name|>", "<|file_sep|>"]
QWEN3_SPECIAL = QWEN25_SPECIAL + ["<tool_response>", "</tool_response>", "<think>", "</think>"]
SPECIAL = {  # added tokens in their published order (ids follow the BPE vocabulary)
    "dream": QWEN25_SPECIAL + ["<|beginoftext|>", "<|mask|>"],
    "diffucoder": QWEN25_SPECIAL + ["<|beginoftext|>", "<|mask|>", "<|dlm_pad|>"],
    "dreamon": QWEN25_SPECIAL + ["<|beginoftext|>", "<|mask|>", "<|expand|>"],
    "open-dcoder": QWEN25_SPECIAL + ["<M>"],
    "llada": ["<|startoftext|>", "<|endoftext|>", "[CLS]", "[gMASK]", "<|reserved_token_0|>", "<|mdm_mask|>",
              "<role>", "</role>", "<|arithmetic_start|>", "<|arithmetic_end|>", "<|number_start|>",
              "<|number_end|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "coda": QWEN3_SPECIAL + ["<|mask|>"],
}
FAMILIES = tuple(SPECIAL)
DIM, LAYERS, HEADS, KV_HEADS, FFN, BPE_VOCAB = 64, 2, 4, 2, 96, 320


def _bpe() -> Tokenizer:
    """A small byte-level BPE with Qwen2's pre-tokenizer, trained on SAMPLE_CODE (no special tokens)."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([SAMPLE_CODE] * 4, trainer=trainer)
    return tok


def _write_tokenizer(path: Path, family: str, roles: dict[str, str], slow: bool) -> dict[str, int]:
    """The tokenizer files; returns text -> id of the added tokens."""
    tok = _bpe()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL[family]])
    ids = {t: tok.token_to_id(t) for t in SPECIAL[family]}
    decoder = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                        "single_word": False, "special": True} for t, i in ids.items()}
    config = {"added_tokens_decoder": decoder, "clean_up_tokenization_spaces": False,
              "model_max_length": 32768, **roles}
    if slow:  # Dream's and CoDA's repositories: the slow tokenizer's files, no tokenizer.json
        tok.model.save(str(path))
        (path / "added_tokens.json").write_text(json.dumps(ids, indent=2))
        config.update(tokenizer_class="DreamTokenizer" if family.startswith(("dream", "diffu")) else "Qwen2Tokenizer",
                      errors="replace", split_special_tokens=False)
    else:
        tok.save(str(path / "tokenizer.json"))
        config["tokenizer_class"] = "PreTrainedTokenizerFast" if family == "llada" else "Qwen2TokenizerFast"
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (path / "special_tokens_map.json").write_text(json.dumps(roles, indent=2))
    return ids


def _config(family: str, ids: dict[str, int], vocab: int) -> dict:
    """config.json with the family's own keys, at toy sizes."""
    qwen = {"attention_dropout": 0.0, "hidden_act": "silu", "hidden_size": DIM, "initializer_range": 0.02,
            "intermediate_size": FFN, "max_position_embeddings": 2048, "max_window_layers": LAYERS,
            "num_attention_heads": HEADS, "num_hidden_layers": LAYERS, "num_key_value_heads": KV_HEADS,
            "rms_norm_eps": 1e-6, "rope_scaling": None, "rope_theta": 1000000.0, "sliding_window": None,
            "use_sliding_window": False, "vocab_size": vocab}
    if family in ("dream", "diffucoder", "dreamon"):
        cfg = {"architectures": ["DreamModel"], "model_type": "Dream",
               "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
               **qwen, "bos_token_id": ids["<|beginoftext|>"], "eos_token_id": ids["<|endoftext|>"],
               "pad_token_id": ids["<|endoftext|>"], "mask_token_id": ids["<|mask|>"],
               "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.46.2",
               "use_cache": False}
        if family == "dreamon":
            cfg["expand_token_id"] = ids["<|expand|>"]
        return cfg
    if family == "open-dcoder":  # Qwen2.5-Coder-0.5B's config as Open-dLLM's upload script edits it: no mask id
        return {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
                "auto_map": {"AutoModelForCausalLM": "modeling_qwen2.Qwen2ForCausalLM"}, "trust_remote_code": True,
                **qwen, "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|endoftext|>"],
                "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.46.1",
                "use_cache": True}
    if family == "coda":
        return {"architectures": ["CoDALanguageModel"], "model_type": "CoDA", "attention_bias": False,
                "attention_kernel": "flash_attention",
                "auto_map": {"AutoConfig": "model_config.CoDAConfig", "AutoModel": "modeling_coda.CoDALanguageModel"},
                "block_masking_probability": [0.25, 0.5, 0.5, 0.75, 0.25], "head_dim": 24,
                **qwen, "mask_block_sizes": [4, 8, 16, 32], "mask_token_id": ids["<|mask|>"],
                "pad_token_id": ids["<|endoftext|>"], "prefix_probability": 0,
                "sampling_eps": [0.001, 0.25, 0.5, 0.25, 0.001], "torch_dtype": "float32",
                "transformers_version": "4.47.1", "truncate_probability": 0, "use_cache": True}
    # LLaDA's config.json: OLMo-style keys
    return {"activation_type": "silu", "alibi": False, "alibi_bias_max": 8.0, "architectures": ["LLaDAModelLM"],
            "attention_dropout": 0.0, "attention_layer_norm": False, "attention_layer_norm_with_affine": True,
            "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig",
                         "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
                         "AutoModel": "modeling_llada.LLaDAModelLM"},
            "bias_for_layer_norm": False, "block_group_size": 1, "block_type": "llama", "d_model": DIM,
            "embedding_dropout": 0.0, "embedding_size": vocab, "eos_token_id": ids["<|endoftext|>"],
            "flash_attention": False, "include_bias": False, "include_qkv_bias": False, "init_cutoff_factor": None,
            "init_device": "meta", "init_fn": "mitchell", "init_std": 0.02, "input_emb_norm": False,
            "layer_norm_type": "rms", "layer_norm_with_affine": True, "mask_token_id": ids["<|mdm_mask|>"],
            "max_sequence_length": 2048, "mlp_hidden_size": FFN, "mlp_ratio": 4, "model_type": "llada",
            "multi_query_attention": None, "n_heads": HEADS, "n_kv_heads": HEADS, "n_layers": LAYERS,
            "pad_token_id": ids["<|endoftext|>"], "precision": "amp_bf16", "residual_dropout": 0.0,
            "rms_norm_eps": 1e-05, "rope": True, "rope_full_precision": True, "rope_theta": 500000.0,
            "scale_logits": False, "transformers_version": "4.38.2", "use_cache": False, "vocab_size": vocab,
            "weight_tying": False}


def _weights(family: str, vocab: int, seed: int) -> dict[str, torch.Tensor]:
    """Random weights under the family's tensor names (non-trivial norms and biases)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.2):
        return torch.randn(*shape, generator=gen) * scale

    def norm(n):
        return 1 + rand(n, scale=0.1)

    hd = 24 if family == "coda" else DIM // HEADS
    kv = HEADS if family == "llada" else KV_HEADS
    state = {"model.embed_tokens.weight": rand(vocab, DIM, scale=1.0), "model.norm.weight": norm(DIM)}
    if family != "open-dcoder":  # Open-dCoder ties its head to the embeddings
        state["lm_head.weight"] = rand(vocab, DIM)
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        state.update({p + "input_layernorm.weight": norm(DIM), p + "post_attention_layernorm.weight": norm(DIM),
                      p + "self_attn.q_proj.weight": rand(HEADS * hd, DIM),
                      p + "self_attn.k_proj.weight": rand(kv * hd, DIM),
                      p + "self_attn.v_proj.weight": rand(kv * hd, DIM),
                      p + "self_attn.o_proj.weight": rand(DIM, HEADS * hd),
                      p + "mlp.gate_proj.weight": rand(FFN, DIM), p + "mlp.up_proj.weight": rand(FFN, DIM),
                      p + "mlp.down_proj.weight": rand(DIM, FFN)})
        if family in ("dream", "diffucoder", "dreamon", "open-dcoder"):
            for x in "qkv":
                state[p + f"self_attn.{x}_proj.bias"] = rand((HEADS if x == "q" else kv) * hd, scale=0.1)
        if family == "coda":
            state[p + "self_attn.q_norm.weight"], state[p + "self_attn.k_norm.weight"] = norm(hd), norm(hd)
    if family == "llada":
        state = {llada_name(k): v for k, v in state.items()}
    return state


LLADA_BLOCK = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ff_norm", "self_attn.q_proj": "q_proj",
               "self_attn.k_proj": "k_proj", "self_attn.v_proj": "v_proj", "self_attn.o_proj": "attn_out",
               "mlp.gate_proj": "ff_proj", "mlp.up_proj": "up_proj", "mlp.down_proj": "ff_out"}
LLADA_TOP = {"model.embed_tokens.weight": "model.transformer.wte.weight",
             "model.norm.weight": "model.transformer.ln_f.weight", "lm_head.weight": "model.transformer.ff_out.weight"}


def llada_name(name: str) -> str:
    """LLaDA's tensor name for a Llama one (the authors' own mapping, the other way)."""
    if name in LLADA_TOP:
        return LLADA_TOP[name]
    _, _, layer, rest = name.split(".", 3)  # model.layers.<i>.<module>.weight
    return f"model.transformer.blocks.{layer}.{LLADA_BLOCK[rest.removesuffix('.weight')]}.weight"


def published_checkpoint(path: str | Path, family: str, seed: int = 0) -> Path:
    """Write a tiny random `family` checkpoint to `path`, laid out as the family publishes it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    roles = {"dream": {"bos_token": "<|beginoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
                       "mask_token": "<|mask|>"},
             "open-dcoder": {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "mask_token": "<M>"},
             "llada": {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
             "coda": {"bos_token": "<|im_end|>", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                      "mask_token": "<|mask|>"}}
    role = roles.get(family) or {**roles["dream"], **({"pad_token": "<|dlm_pad|>"} if family == "diffucoder" else {})}
    ids = _write_tokenizer(path, family, role, slow=family in ("dream", "diffucoder", "dreamon", "coda"))
    vocab = -(-(BPE_VOCAB + len(SPECIAL[family])) // 64) * 64  # embeddings padded past the tokenizer, as published
    cfg = _config(family, ids, vocab)
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    gen_cfg = {"_from_model_config": True, "bos_token_id": cfg.get("bos_token_id"), "eos_token_id": cfg["eos_token_id"]
               if "eos_token_id" in cfg else ids["<|im_end|>"], "transformers_version": cfg["transformers_version"]}
    (path / "generation_config.json").write_text(json.dumps(gen_cfg, indent=2))
    state = _weights(family, vocab, seed)
    dtype = torch.float32 if family == "coda" else torch.bfloat16
    state = {k: v.to(dtype).contiguous() for k, v in state.items()}
    keys = sorted(state)
    halves = [keys[:len(keys) // 2], keys[len(keys) // 2:]]  # two shards and an index, as 7B repositories have
    names = [f"model-0000{i + 1}-of-00002.safetensors" for i in range(2)]
    for name, part in zip(names, halves):
        save_file({k: state[k] for k in part}, str(path / name), metadata={"format": "pt"})
    index = {"metadata": {"total_size": sum(v.numel() * v.element_size() for v in state.values())},
             "weight_map": {k: name for name, part in zip(names, halves) for k in part}}
    (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return path
