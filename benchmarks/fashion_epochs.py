"""CPU seconds per Fashion-MNIST training epoch of each model the reproductions run (issue 12.7).

Times the training steps (forward, backward, Adam) of 004 §4.2's net per activation and of 003's
FFNN and CNN per head, on batches shaped like the real data (60,000 training images: 469 steps
of 128 for 004, 235 of 256 for 003), one thread, every variant measured in turn in each round so
that load on a shared machine hits them alike; the median round is reported, with its ratio to
the first variant of the same paper (004: ReLU; 003: the FFNN with a softmax head). ``--profile``
adds torch.profiler's op table of one variant, split into actlab's own ops (the fused activation
kernels and their compiled graphs) and the rest.

    python benchmarks/fashion_epochs.py                      # the table
    python benchmarks/fashion_epochs.py --channels-last      # also NHWC variants of 004's net
    python benchmarks/fashion_epochs.py --profile "cpaf_relu(k=2, granularity=element)"
    python benchmarks/fashion_epochs.py --no-003 --compare-inductor   # C++ kernels vs inductor
    python benchmarks/fashion_epochs.py --glibc-default      # glibc's allocator as it comes
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import actlab.models  # noqa: F401  (registers the papers' nets)
from actlab.activations import swap_activations
from actlab.activations.fused import ops
from actlab.fit.host_memory import keep_freed_memory
from actlab.tasks.classification import create_backbone
from actlab.tasks.heads import head_loss

#: 004 §4.2's net as configs/papers/004_cpaf/fashion.yaml builds it.
FASHION_NET = {"padding": 0, "ceil_mode": False, "pools": 2}
ACTIVATIONS_004 = [
    "relu",
    "prelu",
    "prelu(granularity=element)",
    "elu(alpha=1.0)",
    "pa_relu(granularity=element)",
    "cpaf_sigmoid(k=2, granularity=element)",
    "cpaf_relu(k=2, granularity=element)",
    "cpaf_relu(k=2, granularity=channel)",
]
#: the trainable ones, which ``--compare-inductor`` also runs with the C++ kernels off.
TRAINABLE_004 = [a for a in ACTIVATIONS_004 if a.startswith(("prelu", "pa_", "cpaf_"))]
TRAIN_IMAGES = 60_000


def step_004(
    activation: str,
    channels_last: bool,
    batch: int = 128,
    net_kwargs: dict | None = None,
    native: bool = True,
) -> Callable[[], None]:
    torch.manual_seed(0)
    kwargs = FASHION_NET if net_kwargs is None else net_kwargs
    net = create_backbone("cpaf_fashion_cnn", 10, (1, 28, 28), **kwargs)
    swap_activations(net, activation)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(10, (batch,))
    if channels_last:
        net, x = (
            net.to(memory_format=torch.channels_last),
            x.contiguous(memory_format=torch.channels_last),
        )
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step() -> None:
        old = ops.set_cpu_native(native)
        try:
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        finally:
            ops.set_cpu_native(old)

    return step


def step_003(model: str, head: str, batch: int = 256) -> Callable[[], None]:
    torch.manual_seed(0)
    shape = (256,) if model == "agarap_ffnn" else (1, 16, 16)
    net = create_backbone(model, 10, shape)
    x, y = torch.randn(batch, *shape), torch.randint(10, (batch,))
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step() -> None:
        loss = head_loss(net(x), y, head)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def variants(
    channels_last: bool, compare_inductor: bool = False, with_003: bool = True
) -> dict[str, tuple[Callable[[], None], int]]:
    """name -> (one training step, steps per epoch of 60,000 images)."""
    out: dict[str, tuple[Callable[[], None], int]] = {}
    for act in ACTIVATIONS_004:
        out[f"004 cpaf_fashion_cnn {act}"] = (step_004(act, False), -(-TRAIN_IMAGES // 128))
        if compare_inductor and act in TRAINABLE_004:
            out[f"004 cpaf_fashion_cnn {act} inductor"] = (
                step_004(act, False, native=False),
                -(-TRAIN_IMAGES // 128),
            )
        if channels_last:
            out[f"004 cpaf_fashion_cnn {act} NHWC"] = (step_004(act, True), -(-TRAIN_IMAGES // 128))
    for act in ("relu", "cpaf_relu(k=2, granularity=element)"):  # the net's defaults: 19,042 sites
        out[f"004 cpaf_fashion_cnn(padding=1, pool after each) {act}"] = (
            step_004(act, False, net_kwargs={}),
            -(-TRAIN_IMAGES // 128),
        )
    if not with_003:
        return out
    for model in ("agarap_ffnn", "agarap_cnn"):
        for head in ("softmax", "relu"):
            out[f"003 {model} head={head}"] = (step_003(model, head), -(-TRAIN_IMAGES // 256))
    return out


def measure(cases: dict[str, tuple[Callable[[], None], int]], rounds: int, steps: int) -> None:
    for step, _ in cases.values():  # warm-up: compiles the fused kernels
        step()
        step()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (step, _) in cases.items():
            start = time.process_time()
            for _ in range(steps):
                step()
            times[name].append((time.process_time() - start) / steps)
    relu = {"004": None, "003": None}
    print(f"{'variant':66s} {'ms/step':>8s} {'s/epoch':>8s} {'x first':>7s} {'spread':>11s}")
    for name, (_, per_epoch) in cases.items():
        ordered = sorted(times[name])
        med = ordered[len(ordered) // 2]
        paper = name[:3]
        if relu[paper] is None:  # the first variant of each paper is its baseline
            relu[paper] = med
        spread = f"{ordered[0] * 1000:.1f}-{ordered[-1] * 1000:.1f}"
        print(
            f"{name:66s} {med * 1000:8.1f} {med * per_epoch:8.1f} {med / relu[paper]:7.2f}"
            f" {spread:>11s}"
        )


def profile(activation: str, steps: int, native: bool = True) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    step = step_004(activation, False, native=native)
    for _ in range(3):
        step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=15))
    total = sum(e.self_cpu_time_total for e in events)
    ours = sum(
        e.self_cpu_time_total
        for e in events
        if "actlab" in e.key or "CompiledFxGraph" in e.key or "Compiled Region" in e.key
        or "GeneratedBackwardFor_actlab" in e.key
        or "Dynamo" in e.key or "Pregraph" in e.key
    )  # fmt: skip
    print(f"actlab's activation ops and their compiled graphs: {ours / total:.1%} of the step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8, help="steps per variant and round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true", help="also NHWC 004 variants")
    parser.add_argument("--profile", metavar="ACTIVATION", default=None)
    parser.add_argument(
        "--compare-inductor",
        action="store_true",
        help="also run 004's trainable activations with the C++ kernels off (inductor's code)",
    )
    parser.add_argument("--no-003", action="store_true", help="only 004's net")
    parser.add_argument(
        "--glibc-default",
        action="store_true",
        help="leave glibc's allocator as it is (actlab fit keeps freed memory in the process)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kept = not args.glibc_default and keep_freed_memory()
    print(f"freed memory kept in the process (as actlab fit does): {kept}")
    if args.profile:
        profile(args.profile, args.steps, native=not args.compare_inductor)
        return
    cases = variants(args.channels_last, args.compare_inductor, not args.no_003)
    measure(cases, args.rounds, args.steps)


if __name__ == "__main__":
    main()
