"""An ``argparse`` parser for actlab's own subcommands whose errors are one ``actlab: error:`` line."""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that reports bad arguments as one line (exit status 2),
    naming the subcommand, without the usage text."""

    def error(self, message: str) -> NoReturn:
        from actlab.cli import fail

        fail(f"{self.prog}: {message} (see {self.prog} --help)")
