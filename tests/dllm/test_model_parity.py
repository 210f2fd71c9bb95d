"""Our Transformer reproduces transformers' Qwen2, Qwen3 and Llama logits on random tiny configs: causal, and
bidirectional (every position sees every other, as diffusion models run) against the same models given an
all-visible attention mask."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from dllm_complete.dllm.checkpoint import load_weights, model_config
from dllm_complete.dllm.model import Transformer
from dllm_complete.dllm.published import llada_name

transformers = pytest.importorskip("transformers")

TINY = dict(vocab_size=257, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0)


def _hf_model(kind: str, tie: bool):
    torch.manual_seed(0)
    if kind == "qwen2":
        cfg = transformers.Qwen2Config(**TINY, tie_word_embeddings=tie)
        model = transformers.Qwen2ForCausalLM(cfg)
    elif kind == "qwen3":  # its own head width, and RMSNorm over each head's queries and keys
        cfg = transformers.Qwen3Config(**TINY, head_dim=24, tie_word_embeddings=tie)
        model = transformers.Qwen3ForCausalLM(cfg)
    else:
        cfg = transformers.LlamaConfig(**TINY, tie_word_embeddings=tie, attention_bias=False)
        model = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():  # non-trivial norms and biases
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval(), cfg


def _ours(tmp_path, hf_model, cfg_dict, family_tensors=None, causal=True):
    state = family_tensors or {k: v.contiguous() for k, v in hf_model.state_dict().items()}
    if cfg_dict.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)
    save_file(state, str(tmp_path / "model.safetensors"))
    mc, family = model_config(cfg_dict)
    model = Transformer(dataclasses.replace(mc, causal=causal))
    load_weights(model, tmp_path, family, torch.float32, torch.device("cpu"))
    return model.eval()


def all_visible(tokens: torch.Tensor) -> torch.Tensor:
    """transformers' 4D boolean attention mask (B, 1, T, T) under which every position attends to every other."""
    B, T = tokens.shape
    return torch.ones(B, 1, T, T, dtype=torch.bool)


@pytest.mark.parametrize("kind", ["qwen2", "qwen3", "llama"])
@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("causal", [True, False])
def test_logits_match_transformers(tmp_path, kind, tie, causal):
    hf, cfg = _hf_model(kind, tie)
    ours = _ours(tmp_path, hf, json.loads(cfg.to_json_string()), causal=causal)
    tokens = torch.randint(0, TINY["vocab_size"], (2, 37))
    with torch.no_grad():
        expected = hf(tokens, attention_mask=None if causal else all_visible(tokens)).logits
        got = ours(tokens)
        if not causal:  # the mask reached transformers' attention: its causal logits differ
            assert (hf(tokens).logits - expected).abs().max().item() > 1e-2
    assert (got - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize("kind", ["qwen2", "qwen3", "llama"])
def test_stacked_projections_are_the_same_model(tmp_path, kind):
    hf, cfg = _hf_model(kind, False)
    cfg_dict = json.loads(cfg.to_json_string())
    plain, fused = _ours(tmp_path, hf, cfg_dict), _ours(tmp_path, hf, cfg_dict)
    shapes = {k: v.shape for k, v in fused.state_dict().items()}
    fused.fuse_projections()
    fused.fuse_projections()  # once is enough
    assert {k: v.shape for k, v in fused.state_dict().items()} == shapes  # a checkpoint's names and shapes stay
    attn, mlp = fused.layers[0].self_attn, fused.layers[0].mlp
    assert attn.q_proj.weight.untyped_storage().data_ptr() == attn.qkv[0].untyped_storage().data_ptr()  # views
    assert mlp.up_proj.weight.untyped_storage().data_ptr() == mlp.gate_up.untyped_storage().data_ptr()
    assert (attn.qkv[1] is not None) == (kind == "qwen2")
    tokens = torch.randint(0, TINY["vocab_size"], (2, 37))
    positions = torch.arange(37)
    mask = torch.rand(37, 45) > 0.3
    mask[:, 0] = True
    cache_p, cache_f = plain.new_cache(2, 45), fused.new_cache(2, 45)
    with torch.no_grad():
        assert (fused(tokens) - plain(tokens)).abs().max().item() < 1e-5
        with_cache = fused.hidden(tokens, positions + 8, cache_f, mask) - plain.hidden(tokens, positions + 8, cache_p, mask)
    assert with_cache.abs().max().item() < 1e-5
    assert (cache_f.k - cache_p.k).abs().max().item() < 1e-5 and (cache_f.v - cache_p.v).abs().max().item() < 1e-5


def test_llada_names_map_onto_the_same_model(tmp_path):
    hf, _ = _hf_model("llama", False)
    llada_state = {llada_name(k): v.contiguous() for k, v in hf.state_dict().items()}
    llada_cfg = {"model_type": "llada", "d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2,
                 "mlp_hidden_size": 96, "vocab_size": 257, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
                 "max_sequence_length": 128}
    ours = _ours(tmp_path, hf, llada_cfg, family_tensors=llada_state)
    tokens = torch.randint(0, 257, (1, 21))
    with torch.no_grad():
        assert (ours(tokens) - hf(tokens).logits).abs().max().item() < 1e-4
