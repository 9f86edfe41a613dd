"""Lightning's LeafSpec deprecation and LitLogger tip are filtered at their source; the user's own
warning of the same text still shows."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO

PROBE = """
import warnings
import actlab.cli.training  # installs the filters, as every training command does
from actlab.cli.quiet import quiet_third_party
quiet_third_party()  # again: nothing more
from lightning.pytorch.utilities._pytree import _tree_flatten
import lightning.pytorch as pl
for _ in range(3):
    _tree_flatten(1)  # Lightning builds torch's deprecated LeafSpec: the FutureWarning
pl.Trainer(logger=False, enable_checkpointing=False, enable_model_summary=False)  # the tip
warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated: the user's own", FutureWarning)
"""


def test_third_party_notices_are_filtered_at_their_source_only() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    err = done.stderr
    assert "lightning/pytorch/utilities/_pytree.py" not in err
    assert "Tip:" not in err and "litlogger" not in err
    assert err.count("LeafSpec") == 1 and "the user's own" in err
