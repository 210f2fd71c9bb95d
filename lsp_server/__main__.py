"""`python -m lsp_server [options]`: the same as `dllm-lsp`."""

import sys

from .server import main

sys.exit(main())
