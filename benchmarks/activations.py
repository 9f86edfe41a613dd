"""CPAF vs ReLU (and PReLU, PA-ReLU) on CPU: forward+backward time and bytes saved for backward.

Each activation is swapped into its own copy of the same conv net (same weights); timings are
taken interleaved (one repetition of every activation per round) in one process, so machine
load hits all of them alike, and reported as the median with the ratio to ReLU.

    python benchmarks/activations.py [--rounds 15] [--batch 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import timm
import torch

import actlab.models  # noqa: F401  (registers cpaf_structure1 with timm)
from actlab.activations import functional as AF
from actlab.activations import swap_activations
from actlab.activations.memory import saved_bytes

SPECS = [
    "relu",
    "cpaf_relu(k=2)",
    "cpaf_relu(k=2, granularity=element)",
    "prelu",
    "pa_relu",
    "gelu",
]


class NoRecomputeCPAF(torch.nn.Module):
    """CPAF through plain autograd (every term's intermediates saved): what recompute avoids."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.inner._params_for(x)
        return AF.cpaf_relu(x, a, b)


def build(name: str, spec: str, x: torch.Tensor, base: torch.nn.Module) -> torch.nn.Module:
    model = copy.deepcopy(base)
    swap_activations(model, spec.removesuffix(" [no recompute]"), example_input=x)
    if spec.endswith("[no recompute]"):
        for qual, module in list(model.named_modules()):
            if type(module).__name__ == "CPAFReLU":
                parent, _, child = qual.rpartition(".")
                setattr(
                    model.get_submodule(parent) if parent else model, child, NoRecomputeCPAF(module)
                )
    return model.train()


def step_time(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def bench(name: str, kwargs: dict, batch: int, rounds: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    base = timm.create_model(name, num_classes=10, **kwargs)
    specs = [*SPECS, "cpaf_relu(k=2) [no recompute]"]
    models = {s: build(name, s, x, base) for s in specs}
    for model in models.values():  # warm-up
        step_time(model, x, y)
    times: dict[str, list[float]] = {s: [] for s in specs}
    for _ in range(rounds):
        for spec, model in models.items():
            times[spec].append(step_time(model, x, y))
    mem = {s: saved_bytes(m, x) for s, m in models.items()}
    base_t, base_m = statistics.median(times["relu"]), mem["relu"]
    print(f"\n{name}, CPU, batch {batch}, 3x32x32, median of {rounds} interleaved fwd+bwd steps")
    print(f"{'activation':<42}{'fwd+bwd ms':>12}{'x relu':>9}{'saved MiB':>12}{'x relu':>9}")
    for spec in specs:
        t = statistics.median(times[spec])
        print(
            f"{spec:<42}{t * 1e3:>12.1f}{t / base_t:>9.2f}{mem[spec] / 2**20:>12.1f}{mem[spec] / base_m:>9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    bench("cpaf_structure1", {}, args.batch, args.rounds)
    bench("resnet18", {}, args.batch, args.rounds)


if __name__ == "__main__":
    main()
