"""`python -m dllm_complete.lsp_server [options]`: the same as `dllm-lsp`."""

import sys

from .launch import main

sys.exit(main())
