"""Published diffusion families (Dream, DiffuCoder, DreamOn, Open-dCoder, LLaDA, CoDA) on tiny random
checkpoints laid out as each family publishes its models: the family is recognised from the files,
its logits equal transformers' Qwen2 / Qwen3 / Llama run bidirectionally, the engine reads them with
the family's shift and special tokens, and it agrees with the slow reference (DreamOn's edits too)."""

import json
import shutil

import msgspec
import pytest
import torch
from safetensors.torch import load_file

from dllm_complete import dllm
from dllm_complete.dllm.checkpoint import CheckpointError, read_tokenizer
from dllm_complete.dllm.engine import Engine
from dllm_complete.dllm.published import FAMILIES, llada_name, published_checkpoint
from dllm_complete.dllm.reference import reference_infill
from dllm_complete.dllm.testing import SAMPLE_CODE, sample_holes

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

# family -> (logits shifted, mask, end-of-middle, text before a whole prefix, after a whole suffix)
CONVENTIONS = {
    "dream": (True, "<|mask|>", "<|endoftext|>", "<|beginoftext|>", "<|endoftext|>"),
    "diffucoder": (True, "<|mask|>", "<|dlm_pad|>", "<|beginoftext|>", "<|endoftext|>"),
    "dreamon": (True, "<|mask|>", "<|endoftext|>", "<|beginoftext|>", "<|endoftext|>"),
    "open-dcoder": (True, "<M>", "<|endoftext|>", None, "<|endoftext|>"),
    "llada": (False, "<|mdm_mask|>", "<|endoftext|>", "<|startoftext|>", "<|endoftext|>"),
    "coda": (True, "<|mask|>", "<|endoftext|>", None, "<|endoftext|>"),
}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("published")
    return {family: published_checkpoint(root / family, family) for family in FAMILIES}


def _engine(path, **sampler):
    engine = dllm.load(str(path), dtype="float32", kernels="off")
    engine.sampler = msgspec.structs.replace(engine.sampler, **sampler)
    return engine


def hf_twin(path):
    """The same weights in transformers' own implementation of the family's architecture."""
    cfg = json.loads((path / "config.json").read_text())
    state = {}
    for shard in sorted(path.glob("model-*.safetensors")):
        state.update({k: v.float() for k, v in load_file(str(shard)).items()})
    if cfg["model_type"] == "llada":
        state = {ours: state[theirs] for ours, theirs in ((k, llada_name(k)) for k in _llama_names(cfg))}
        config = transformers.LlamaConfig(
            vocab_size=cfg["embedding_size"], hidden_size=cfg["d_model"], intermediate_size=cfg["mlp_hidden_size"],
            num_hidden_layers=cfg["n_layers"], num_attention_heads=cfg["n_heads"],
            num_key_value_heads=cfg["n_kv_heads"], rms_norm_eps=cfg["rms_norm_eps"], rope_theta=cfg["rope_theta"],
            max_position_embeddings=cfg["max_sequence_length"], tie_word_embeddings=False)
        model = transformers.LlamaForCausalLM(config)
    else:
        keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "rms_norm_eps", "rope_theta", "max_position_embeddings")
        kwargs = {k: cfg[k] for k in keys}
        if cfg["model_type"] == "CoDA":
            model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**kwargs, head_dim=cfg["head_dim"],
                                                                           tie_word_embeddings=False))
        else:
            model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(
                **kwargs, tie_word_embeddings=cfg["tie_word_embeddings"]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    return model.eval()


def _llama_names(cfg):
    names = ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
    for i in range(cfg["n_layers"]):
        names += [f"model.layers.{i}.{m}.weight" for m in (
            "input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
            "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
    return names


@pytest.mark.parametrize("family", FAMILIES)
def test_the_family_and_its_tokens_come_from_the_files(published, family):
    engine = _engine(published[family])
    shift, mask, eom, bos, eos = CONVENTIONS[family]
    tok = engine.tokenizer
    text = {i: t for t, i in tok.hf.get_vocab(with_added_tokens=True).items()}
    assert engine.spec.family == family and engine.spec.logits_shift == shift
    sp = tok.special
    assert (text[sp.mask], text[sp.eom]) == (mask, eom)
    assert (text.get(sp.bos), text.get(sp.eos)) == (bos, eos)
    assert (sp.expand is not None) == (family == "dreamon")
    never = set(tok.never_generated())
    assert {"<|im_start|>", "<|fim_prefix|>", "<|start_header_id|>"} & set(text.values()) <= {text[i] for i in never}
    assert sp.eom not in never and all(i not in never for i in tok.stop_ids())
    assert all(text[i].startswith("<|") for i in tok.stop_ids())  # only end tokens end a completion


@pytest.mark.parametrize("family", FAMILIES)
def test_bidirectional_logits_match_transformers(published, family):
    ours = _engine(published[family]).model
    hf = hf_twin(published[family])
    tokens = torch.randint(0, 300, (2, 29))
    with torch.no_grad():
        expected = hf(tokens, attention_mask=torch.ones(2, 1, 29, 29, dtype=torch.bool)).logits
        assert (hf(tokens).logits - expected).abs().max().item() > 1e-2  # causal differs: the mask took effect
        assert (ours(tokens) - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_the_engine_reads_each_slot_as_the_family_does(published, family):
    # the logits the engine scores slot j with are those the authors' code uses for it: Dream's family
    # `logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)` at the mask's position, LLaDA's own row
    engine = _engine(published[family])
    hf = hf_twin(published[family])
    shift, *_, bos, eos = CONVENTIONS[family]
    steps = engine.steps(SAMPLE_CODE[:60], SAMPLE_CODE[60:], mode="multi")
    need = next(steps)
    canvas = need.canvas
    text = {i: t for t, i in engine.tokenizer.hf.get_vocab(with_added_tokens=True).items()}
    assert text.get(int(canvas[0, 0])) == bos or (bos is None and canvas[0, 0] != engine.tokenizer.special.bos)
    assert text.get(int(canvas[0, -1])) == eos
    with torch.no_grad():
        ours = engine.model(canvas)[0, need.window]
        theirs = hf(canvas, attention_mask=torch.ones(1, 1, canvas.shape[1], canvas.shape[1], dtype=torch.bool)).logits
        if shift:
            theirs = torch.cat([theirs[:, :1], theirs[:, :-1]], dim=1)
    masks = (canvas[0] == engine.tokenizer.special.mask).nonzero().squeeze(-1)
    assert len(masks) == len(need.window)
    assert (ours - theirs[0, masks]).abs().max().item() < 1e-4
    steps.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_the_engine_equals_the_reference(published, family):
    engine = Engine(_engine(published[family], use_cache=False).loaded, kernels="off",
                    sampler=msgspec.structs.replace(dllm.SamplerConfig(), use_cache=False, threshold=0.3))
    outcomes = set()
    for prefix, suffix in sample_holes(3):
        for mode in ("single", "multi"):
            got = engine.infill(prefix, suffix, mode=mode)
            ref = reference_infill(engine, prefix, suffix, mode=mode).completion
            s, r = got.stats, ref.stats
            assert (got.text, s.nfe, s.steps, s.tokens, s.canvas) == (ref.text, r.nfe, r.steps, r.tokens, r.canvas)
            outcomes.add(got.text)
    assert len(outcomes) > 1


def test_dreamon_expands_and_deletes_like_the_reference(published):
    # a committed <|expand|> becomes two masks, a committed <|endoftext|> is deleted: the model sets the
    # length. Their head rows are scaled up so that this random model commits them often.
    engine = Engine(_engine(published["dreamon"]).loaded, kernels="off",
                    sampler=msgspec.structs.replace(dllm.SamplerConfig(), use_cache=False))
    sp = engine.tokenizer.special
    with torch.no_grad():
        engine.model.lm_head.weight[[sp.expand, sp.eom]] *= 1.6
    canvases = set()
    for prefix, suffix in sample_holes(5):
        for mode in ("single", "multi"):
            got = engine.infill(prefix, suffix, mode=mode)
            ref = reference_infill(engine, prefix, suffix, mode=mode).completion
            assert (got.text, got.stats.nfe, got.stats.canvas) == (ref.text, ref.stats.nfe, ref.stats.canvas)
            assert got.stats.canvas <= 96 + 1
            canvases.add(got.stats.canvas)
    assert canvases - {16, 48}  # edits changed the canvas from its first length


@pytest.mark.parametrize("family", ["dream", "coda"])
def test_a_rebuilt_slow_tokenizer_equals_transformers(published, family):
    # Dream's repositories ship vocab.json + merges.txt, no tokenizer.json: we rebuild the byte-level BPE
    path = published[family]
    assert not (path / "tokenizer.json").exists()
    ours = read_tokenizer(path)
    config = json.loads((path / "tokenizer_config.json").read_text())
    theirs = transformers.Qwen2Tokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    theirs.add_special_tokens({"additional_special_tokens": [d["content"] for _, d in sorted(
        config["added_tokens_decoder"].items(), key=lambda kv: int(kv[0]))]})
    text = SAMPLE_CODE + "\n\tx = 'ünïcödé'  # <|mask|> 12345\r\n" + "<|endoftext|>"
    assert ours.encode(text, add_special_tokens=False).ids == theirs.encode(text, add_special_tokens=False)


@pytest.mark.parametrize("damage", ["autoregressive", "unknown_type", "no_mask_token", "foreign_tokenizer",
                                    "corrupt_vocab"])
def test_unsupported_checkpoints_say_what_was_found(published, tmp_path, damage):
    path = tmp_path / "ckpt"
    shutil.copytree(published["dream" if damage != "autoregressive" else "open-dcoder"], path)
    cfg = json.loads((path / "config.json").read_text())
    tok_cfg = json.loads((path / "tokenizer_config.json").read_text())
    if damage == "autoregressive":  # Qwen2.5-Coder itself: no mask token anywhere
        vocab = json.loads((path / "tokenizer.json").read_text())
        vocab["added_tokens"] = [t for t in vocab["added_tokens"] if t["content"] != "<M>"]
        (path / "tokenizer.json").write_text(json.dumps(vocab))
        expected = "model_type 'qwen2'"
    elif damage == "unknown_type":
        cfg["model_type"], cfg["architectures"] = "mamba", ["MambaForCausalLM"]
        expected = "'mamba' (architectures: MambaForCausalLM)"
    elif damage == "no_mask_token":
        del cfg["mask_token_id"]
        tok_cfg["added_tokens_decoder"] = {i: d for i, d in tok_cfg["added_tokens_decoder"].items()
                                           if d["content"] != "<|mask|>"}
        (path / "added_tokens.json").unlink()
        expected = "mask token <|mask|>"
    elif damage == "foreign_tokenizer":
        tok_cfg["tokenizer_class"] = "LlamaTokenizer"
        expected = "LlamaTokenizer"
    else:
        (path / "vocab.json").write_text("{not json")
        expected = "cannot read vocab.json + merges.txt"
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    with pytest.raises(CheckpointError) as info:
        dllm.load(str(path))
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_completion_at_the_very_start_of_a_file(published, family):
    # families that read each slot at the position before it need one there: an empty prefix had none
    engine = Engine(_engine(published[family]).loaded, kernels="off")
    for use_cache in (True, False):
        engine.sampler = msgspec.structs.replace(engine.sampler, use_cache=use_cache)
        completion = engine.infill("", "x = 1\n", mode="single")
        assert completion.stats.nfe >= 1 and isinstance(completion.text, str)
