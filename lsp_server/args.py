"""The commands' argument parser: a usage error is one line on stderr and exit status 2.

argparse's own prints the whole usage block before the error; the project's rule for bad input is one
line, so the usage stays behind `--help`.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)
