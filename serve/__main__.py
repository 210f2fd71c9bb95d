"""`python -m dllm_complete.serve`: dllm-serve."""

from .main import main

main()
