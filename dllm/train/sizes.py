"""The model sizes `python -m dllm_complete.dllm.train fit --size` offers (also read by the benches)."""

SIZES = {  # name -> (dim, layers, heads, kv_heads, intermediate)
    "tiny": (128, 4, 4, 2, 384),
    "small": (256, 6, 4, 2, 768),
    "small-deep": (256, 8, 4, 2, 768),
    "medium": (320, 8, 4, 2, 1024),
    "base": (384, 8, 6, 2, 1024),
}
