"""Training: the corpus, the tokenizer, both objectives (diffusion and AR), distillation and the model card."""
