"""Trainable activations vs ReLU per backend: forward+backward time and bytes saved for backward.

Each activation is swapped into its own copy of the same net (same weights); timings are taken
interleaved (one step of every row per round) in one process, so machine load hits all rows
alike, and reported as the median with the ratio to ReLU (CPU seconds on CPU, wall seconds on
CUDA; freed memory kept in the process, as ``actlab fit`` keeps it). Rows per trainable activation:
``reference`` (the pure function under recompute, the oracle), ``fused`` (the closed-form
backward: on CPU the single-pass C++ kernels where they serve, else inductor-compiled; on CUDA
Triton), and on CPU ``fused [inductor]`` (the C++ kernels off) and ``fused [eager]`` (the same
closed form run op by op). ``auto`` is ``fused`` on both devices.

    python benchmarks/activations.py [--rounds 10] [--batch 64] [--threads 1] [--device cpu]
    python benchmarks/activations.py --device cuda --dtype bfloat16 --channels-last
    python benchmarks/activations.py --cpu-eager --rounds 1 --batch 2   # quick: no CPU compiles
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import platform
import statistics
import time

import timm
import torch

import actlab.models  # noqa: F401  (registers cpaf_structure1 with timm)
from actlab.activations import swap_activations
from actlab.activations.fused import ops
from actlab.activations.memory import saved_bytes
from actlab.fit.host_memory import keep_freed_memory

TRAINABLE = ["cpaf_relu(k=2)", "pa_relu", "prelu", "cpaf_sigmoid"]
MODELS = [("cpaf_structure1", {}), ("resnet18", {})]


def rows(device: str, cpu_eager: bool = False) -> list[tuple[str, str, str]]:
    """(label, spec, CPU kernels: ``compiled``, ``inductor`` or ``eager``) for every row of the
    table; ``cpu_eager`` leaves out the compiled CPU rows (each costs a few seconds of compile)."""
    out = [("relu", "relu", "compiled"), ("gelu", "gelu", "compiled")]
    for spec in TRAINABLE:
        name, _, args = spec.partition("(")
        args = args.rstrip(")")
        for backend in ("reference", "fused"):
            full = f"{name}({args + ', ' if args else ''}backend={backend})"
            out.append((f"{spec} {backend}", full, "compiled"))
        if device == "cpu":
            fused = out[-1][1]
            if cpu_eager:
                del out[-1]
            else:
                out.append((f"{spec} fused [inductor]", fused, "inductor"))
            out.append((f"{spec} fused [eager]", fused, "eager"))
    return out


def step_time(model, x, y, kernels: str, autocast) -> float:
    old = ops.set_cpu_compile(kernels != "eager")
    old_native = ops.set_cpu_native(kernels != "inductor")
    try:
        if x.is_cuda:
            torch.cuda.synchronize()
        clock = time.perf_counter if x.is_cuda else time.process_time  # CPU: CPU seconds
        start = clock()
        with autocast():
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        elapsed = clock() - start
    finally:
        ops.set_cpu_compile(old)
        ops.set_cpu_native(old_native)
    model.zero_grad(set_to_none=True)
    return elapsed


def bench(name: str, kwargs: dict, args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    device = torch.device(args.device)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    x = torch.randn(args.batch, 3, 32, 32, device=device).to(memory_format=fmt)
    y = torch.randint(0, 10, (args.batch,), device=device)
    base = timm.create_model(name, num_classes=10, **kwargs).to(device).to(memory_format=fmt)
    if args.dtype == "bfloat16":
        autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16)  # noqa: E731
    else:
        autocast = contextlib.nullcontext
    table = rows(args.device, args.cpu_eager)
    models = {}
    for label, spec, _ in table:
        model = copy.deepcopy(base)
        swap_activations(model, spec, example_input=x)
        models[label] = model.train()
    compile_s = {}
    for label, _, kernels in table:  # warm-up (and the one-time compile of the CPU kernels)
        start = time.perf_counter()
        for _ in range(2):
            step_time(models[label], x, y, kernels, autocast)
        compile_s[label] = time.perf_counter() - start
    times: dict[str, list[float]] = {label: [] for label, _, _ in table}
    for _ in range(args.rounds):
        for label, _, kernels in table:
            times[label].append(step_time(models[label], x, y, kernels, autocast))
    mem = {}
    for label, _, _ in table:
        with autocast():
            mem[label] = saved_bytes(models[label], x)
    base_t, base_m = statistics.median(times["relu"]), mem["relu"]
    layout = "channels_last" if args.channels_last else "NCHW"
    print(
        f"\n{name}, {args.device} {args.dtype} {layout}, batch {args.batch}, 3x32x32, "
        f"median of {args.rounds} interleaved fwd+bwd steps "
        f"({'wall' if args.device == 'cuda' else 'CPU'} ms)"
    )
    print(
        f"| {'activation, backend':<34} | {'fwd+bwd ms':>10} | {'x relu':>6} | {'saved MiB':>9} "
        f"| {'x relu':>6} | {'warm-up s':>9} |"
    )
    print(f"|{'-' * 36}|{'-' * 11}:|{'-' * 7}:|{'-' * 10}:|{'-' * 7}:|{'-' * 10}:|")
    for label, _, _ in table:
        t = statistics.median(times[label])
        print(
            f"| {label:<34} | {t * 1e3:>10.1f} | {t / base_t:>6.2f} | {mem[label] / 2**20:>9.1f} "
            f"| {mem[label] / base_m:>6.2f} | {compile_s[label]:>9.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--models", nargs="+", default=[m for m, _ in MODELS])
    parser.add_argument(
        "--cpu-eager", action="store_true", help="CPU: fused rows eager only (no compiles)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as actlab fit does
    where = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(f"torch {torch.__version__}, {where}, {args.threads} thread(s)")
    for name, kwargs in MODELS:
        if name in args.models:
            bench(name, kwargs, args)


if __name__ == "__main__":
    main()
