"""Benchmarks of dllm-complete: latency, quality (HumanEval infill, arena), kernels, GPU figures.

A package of scripts, not installed: run each from the repository root as a module, e.g.
`python -m bench.latency --help`. Each prints its progress to stderr and a JSON summary as the last
line of stdout. Importing this package imports nothing heavy (no torch).
"""
