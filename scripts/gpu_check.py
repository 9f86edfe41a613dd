"""Every GPU path of actlab checked and measured in one command, for a machine with NVIDIA GPUs (26.4).

    make gpu-check OUT=gpu-check             # or: python scripts/gpu_check.py gpu-check
    python scripts/gpu_check.py OUT --cpu    # the same steps on the CPU, tiny sizes (the plumbing)

Steps, each a subprocess in its own process group, ended as a group at its time-out (a failing
or timed-out step is a FAILED or TIMEOUT row, and the next step runs):

1. ``pytest -m gpu``: the GPU tests (Triton kernels against the reference on CUDA);
2. the fused kernels' self-check (:mod:`actlab.activations.fused.check`) for every trainable
   family x granularity, in three rows: fp32, bf16 (both NCHW) and channels-last (fp32 and bf16);
3. ``benchmarks/activations.py --device cuda --dtype bfloat16 --channels-last``: CPAF/ReLU
   fwd+bwd time and bytes saved for backward in 004's Structure 1 and resnet18;
4. a 1-epoch DDP ``actlab fit`` on every visible GPU (the WDBC quickstart with CPAF-ReLU);
5. ``benchmarks/throughput.py --synthetic``: images/s of the CIFAR-10 GPU recipe against its
   fast path off (CIFAR-10-shaped random data; the first epoch, with the compile, left out).

It prints one markdown table and writes it to ``OUT/gpu_check.md`` (rewritten after every step,
so a stopped run keeps what it measured), each step's output to ``OUT/<step>.log``, the
self-check's cases to ``OUT/self_check.md`` and everything to ``OUT/gpu_check.json``. The steps
share a budget (``--budget``, 450 s): a step gets at most what is left, so the whole check ends
within 8 minutes. Peak memory per row: ``nvidia-smi``'s used memory summed over the GPUs, above
the step's starting level (on the CPU: the resident memory of the step's processes).

Without a CUDA device it prints one line and exits 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.helpers import kill_group, process_group  # noqa: E402  (the repository's own helpers)

#: Seconds all steps together may take by default (8 minutes less start-up and slack).
BUDGET_S = 450.0
#: A step that would get less than this is skipped instead of started.
MIN_STEP_S = 15.0
#: How often a running step's memory is sampled.
POLL_S = 1.0
#: The self-check's three rows: label -> (dtype, channels_last) pairs.
CHECK_GROUPS = {
    "fp32": [("float32", False)],
    "bf16": [("bfloat16", False)],
    "channels-last": [("float32", True), ("bfloat16", True)],
}


@dataclass
class Row:
    """One row of the table."""

    step: str
    status: str  # OK | FAILED | TIMEOUT | SKIPPED
    seconds: float | None = None
    peak_mib: float | None = None
    result: str = ""
    cpu_s: float | None = None  # CPU seconds of the step's processes (in the JSON only)


@dataclass
class Step:
    """A subprocess to run and how to read its output into rows.

    ``read(output, returncode)`` returns ``(step, ok, result)`` triples, one per row.
    """

    slug: str
    cmd: list[str]
    timeout: float
    read: Callable[[str, int], list[tuple[str, bool, str]]]
    env: dict[str, str] = field(default_factory=dict)


# -- memory ---------------------------------------------------------------------------------------


def gpu_used_mib() -> float | None:
    """Used memory summed over the GPUs, from ``nvidia-smi`` (None without it)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return float(sum(float(v) for v in out.split()))
    except (subprocess.SubprocessError, OSError, ValueError):
        return None


def group_rss_mib(pgid: int) -> float | None:
    """Resident memory of the processes in group ``pgid`` (Linux ``/proc``; None elsewhere)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, ...
                total += int((stat.parent / "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


# -- running a step -------------------------------------------------------------------------------


def run_step(step: Step, out: Path, seconds_left: float, cpu: bool) -> list[Row]:
    """Run ``step`` in its own process group (at most ``seconds_left`` s); its rows."""
    timeout = min(step.timeout, seconds_left)
    if timeout < MIN_STEP_S:
        return [Row(step.slug, "SKIPPED", result=f"budget spent ({seconds_left:.0f} s left)")]
    log = out / f"{step.slug}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
        **step.env,
    }
    base = None if cpu else gpu_used_mib()
    cpu_before = _children_cpu_s()
    peak = None
    start = time.monotonic()
    timed_out = False
    with log.open("w") as sink:
        sink.write(f"$ {shlex.join(step.cmd)}\n")
        sink.flush()
        with process_group(
            step.cmd, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True
        ) as proc:
            while proc.poll() is None:
                if time.monotonic() - start > timeout:
                    timed_out = True
                    kill_group(proc)
                    break
                used = group_rss_mib(proc.pid) if cpu else gpu_used_mib()
                if used is not None:
                    used = used if cpu else max(0.0, used - (base or 0.0))
                    peak = used if peak is None else max(peak, used)
                time.sleep(POLL_S)
    seconds = time.monotonic() - start
    cpu_s = _children_cpu_s() - cpu_before
    output = log.read_text(errors="replace")
    if timed_out:
        result = f"killed after {timeout:.0f} s; see {log.name}"
        return [Row(step.slug, "TIMEOUT", seconds, peak, result, cpu_s)]
    try:
        triples = step.read(output, proc.returncode)
    except Exception as err:  # noqa: BLE001 - an unreadable output is that step's failure
        triples = [(step.slug, False, f"output not understood ({type(err).__name__}: {err})")]
    rows = []
    for name, ok, result in triples:
        if not ok and proc.returncode != 0:
            result = f"exit {proc.returncode}: {result}; see {log.name}"
        rows.append(Row(name, "OK" if ok else "FAILED", seconds, peak, result, cpu_s))
    return rows


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no output"


# -- the steps ------------------------------------------------------------------------------------


def read_pytest(cpu: bool) -> Callable[[str, int], list[tuple[str, bool, str]]]:
    def read(output: str, returncode: int) -> list[tuple[str, bool, str]]:
        counts = dict(
            (word, int(n))
            for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", output)
        )
        summary = ", ".join(f"{n} {w}" for w, n in counts.items()) or last_line(output)
        passed = counts.get("passed", 0)
        # on the CPU every GPU test skips: the row checks that they are collected and skip
        ok = returncode in (0, 5) and (cpu or passed > 0) and not counts.get("failed")
        return [("pytest -m gpu", ok, summary + (" (cpu: GPU tests skip)" if cpu else ""))]

    return read


def read_self_check(output: str, returncode: int) -> list[tuple[str, bool, str]]:
    cases: dict[str, list[dict]] = {label: [] for label in CHECK_GROUPS}
    for line in output.splitlines():
        if line.startswith("CASE "):
            case = json.loads(line[5:])
            cases[case["group"]].append(case)
    kernels = re.search(r"^kernels: (.*)$", output, re.M)
    rows = []
    for label, found in cases.items():
        bad = [c for c in found if not c["ok"]]
        worst = max(found, key=lambda c: c["error"], default=None)
        if not found:
            result, ok = f"no case ran: {last_line(output)}", False
        else:
            result = (
                f"{len(found) - len(bad)}/{len(found)} cases within tolerance; worst "
                f"{worst['error']:.2g} ({worst['case']})"
            )
            if bad:
                result += "; off: " + ", ".join(c["case"] for c in bad[:3])
            ok = not bad
        if kernels:
            result += f"; {kernels.group(1)}"
        rows.append((f"self-check {label}", ok and returncode == 0, result))
    return rows


def read_activations(output: str, returncode: int) -> list[tuple[str, bool, str]]:
    parts = []
    for block in re.split(r"\n(?=\S+, (?:cpu|cuda) )", output):
        model = block.split(",", 1)[0].strip()
        row = re.search(
            r"^\| cpaf_relu\(k=2\) fused(?: \[eager\])? +\|([^|]+)\|([^|]+)\|([^|]+)\|([^|]+)\|",
            block,
            re.M,
        )
        if row:
            _, t_ratio, _, m_ratio = (v.strip() for v in row.groups())
            parts.append(f"{model}: cpaf_relu(k=2) fused {t_ratio}x ReLU time, {m_ratio}x bytes")
    ok = returncode == 0 and bool(parts)
    return [("benchmarks/activations.py", ok, "; ".join(parts) or last_line(output))]


def read_throughput(output: str, returncode: int) -> list[tuple[str, bool, str]]:
    rates = dict(
        (name, float(rate))
        for name, rate in re.findall(r"^(recipe|plain)\s+(\d+(?:\.\d+)?)\s", output, re.M)
    )
    if returncode != 0 or len(rates) != 2:
        return [("benchmarks/throughput.py", False, last_line(output))]
    result = (
        f"recipe {rates['recipe']:.0f} img/s, fast path off {rates['plain']:.0f} img/s "
        f"({rates['recipe'] / rates['plain']:.2f}x)"
    )
    return [("benchmarks/throughput.py", True, result)]


def read_ddp(devices: int) -> Callable[[str, int], list[tuple[str, bool, str]]]:
    def read(output: str, returncode: int) -> list[tuple[str, bool, str]]:
        acc = re.findall(r"^test accuracy ([0-9.]+)", output, re.M)
        world = re.findall(r"GLOBAL_RANK: (\d+)", output) or re.findall(
            r"Initializing distributed: GLOBAL_RANK: \d+, MEMBER: \d+/(\d+)", output
        )
        result = f"{devices} process(es), exit {returncode}"
        if world:
            result += f", ranks seen {len(set(world))}"
        if acc:
            result += f", test/acc {acc[-1]}"
        ok = returncode == 0 and (not world or len(set(world)) == devices)
        return [
            (
                f"DDP fit, {devices} device(s)",
                ok,
                result if ok else f"{result}: {last_line(output)}",
            )
        ]

    return read


def steps(cpu: bool, out: Path, gpus: int) -> list[Step]:
    """The check's steps, sized for a GPU or (``cpu``) tiny for the plumbing on a CPU."""
    python = sys.executable
    quiet = {"PYTHONWARNINGS": "ignore"}
    eager = {"ACTLAB_CPU_COMPILE": "0"} if cpu else {}
    pytest_cmd = [python, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "-rs"]
    if cpu:  # the GPU tests live there; collecting the whole suite costs minutes on a small CPU
        pytest_cmd.append("tests/activations/test_fused.py")
    device = "cpu" if cpu else "cuda"
    activations = [python, "benchmarks/activations.py", "--device", device,
                   "--dtype", "bfloat16", "--channels-last"]  # fmt: skip
    if cpu:  # one round of a batch of 2 through Structure 1, no inductor compiles
        activations += [
            "--rounds",
            "1",
            "--batch",
            "2",
            "--models",
            "cpaf_structure1",
            "--cpu-eager",
        ]
    throughput = [python, "benchmarks/throughput.py", "--synthetic"]
    if cpu:
        plain = "--model.compile false --model.channels_last false --trainer.precision 32-true"
        tiny = "--data.batch_size 8 --data.input_shape [3,8,8]"  # the recipe's net on 8x8 images
        throughput += ["--cpu", "--samples", "16", "--epochs", "2",
                       "--variant", f"recipe={tiny}", "--variant", f"plain={plain} {tiny}"]  # fmt: skip
    else:
        throughput += ["--samples", "10240", "--epochs", "3"]
    devices = 2 if cpu else gpus
    ddp = [python, "-m", "actlab", "fit", "--config", "configs/quickstart.yaml",
           "--trainer.accelerator", device, "--trainer.devices", str(devices),
           "--trainer.strategy", "ddp", "--trainer.max_epochs", "1",
           "--trainer.deterministic", "false", "--trainer.enable_progress_bar", "false",
           "--model.activation", "cpaf_relu(k=2)"]  # fmt: skip
    store = (
        {"ACTLAB_MLRUNS": str(out / "mlruns"), "ACTLAB_ALLOW_OVERSUBSCRIBE": "1"}
        if cpu
        else {"ACTLAB_MLRUNS": str(out / "mlruns")}
    )
    return [
        Step("pytest_gpu", pytest_cmd, 120, read_pytest(cpu), quiet),
        Step("self_check", [python, __file__, "--self-check", device, str(out / "self_check.md")], 150, read_self_check, {**quiet, **eager}),
        Step("activations", activations, 120, read_activations, {**quiet, **eager}),
        Step("ddp_fit", ddp, 120, read_ddp(devices), {**quiet, **eager, **store}),
        Step("throughput", throughput, 180, read_throughput, {**quiet, **eager}),
    ]  # fmt: skip


# -- the self-check (run as a step: ``--self-check DEVICE FILE``) ---------------------------------


def self_check(device: str, table: Path) -> None:
    """Run the fused path's self-check for every case; one ``CASE {json}`` line per case, and a
    markdown table of them in ``table``."""
    import torch

    from actlab.activations import ACTIVATIONS, create_activation
    from actlab.activations.fused import HAS_TRITON, check
    from actlab.activations.trainable import GRANULARITIES

    on_cuda = device == "cuda"
    print(f"kernels: {'Triton' if on_cuda and HAS_TRITON else 'closed-form torch'} on {device}")
    families = sorted(n for n, c in ACTIVATIONS.items() if getattr(c, "trainable", False))
    shape = (8, 16, 9, 11) if on_cuda else (2, 3, 4, 5)
    lines = ["| group | case | max relative error | tolerance | ok |", "|---|---|---:|---:|---|"]
    for group, variants in CHECK_GROUPS.items():
        for dtype_name, channels_last in variants:
            dtype = getattr(torch, dtype_name)
            for name in families:
                for granularity in GRANULARITIES:
                    extra = {"k": 2} if name.startswith("cpaf") else {}
                    module = create_activation(name, granularity=granularity, **extra).to(device)
                    x = torch.randn(shape, device=device).to(dtype)
                    if channels_last:
                        x = x.to(memory_format=torch.channels_last)
                    module.materialize(x.shape, device=x.device)  # fp32 parameters, as in training
                    case = check.case_of(
                        module.activation_name, getattr(module, "k", 1), granularity, x
                    )
                    tolerance = check.TOLERANCE.get(dtype, check.HALF_TOLERANCE)
                    try:
                        error, where = check.compare(
                            module._fused, module._reference, x, list(module.parameters())
                        )
                    except Exception as err:  # noqa: BLE001 - a kernel that fails is a failed case
                        error, where = (
                            float("inf"),
                            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                        )
                    ok = error <= tolerance
                    label = check.describe(case)
                    print(
                        "CASE "
                        + json.dumps(
                            {
                                "group": group,
                                "case": label,
                                "error": error if error != float("inf") else 1e300,
                                "where": where,
                                "ok": ok,
                            }
                        ),
                        flush=True,
                    )
                    lines.append(
                        f"| {group} | {label} | {error:.3g} ({where}) | {tolerance:g} | {'yes' if ok else 'NO'} |"
                    )
    table.write_text("\n".join(lines) + "\n")


# -- the table ------------------------------------------------------------------------------------


def markdown(rows: list[Row], cpu: bool) -> str:
    memory = "peak RSS MiB" if cpu else "peak GPU MiB"
    lines = [f"| step | status | s | {memory} | result |", "|---|---|---:|---:|---|"]
    for r in rows:
        seconds = "" if r.seconds is None else f"{r.seconds:.0f}"
        peak = "" if r.peak_mib is None else f"{r.peak_mib:.0f}"
        lines.append(
            f"| {r.step} | {r.status} | {seconds} | {peak} | {r.result.replace('|', '/')} |"
        )
    return "\n".join(lines)


def describe_machine(cpu: bool) -> str:
    import torch

    commit = (
        subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or "unknown"
    )
    if cpu:
        where = f"CPU mode ({os.cpu_count()} cores)"
    else:
        smi = shutil.which("nvidia-smi")
        query = [smi or "nvidia-smi", "--query-gpu=name,memory.total,driver_version"]
        listed = (
            subprocess.run(
                [*query, "--format=csv,noheader"], capture_output=True, text=True, check=False
            ).stdout.strip()
            if smi
            else ""
        )
        # nvidia-smi rather than torch: the parent stays without a CUDA context of its own
        names = listed.replace("\n", "; ") or f"{torch.cuda.device_count()} CUDA device(s)"
        where = f"{names}, CUDA {torch.version.cuda}"
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"actlab gpu-check: commit {commit}, torch {torch.__version__}, {where}, {date}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", help="folder for the table and raw outputs")
    parser.add_argument(
        "--cpu",
        "--dry-run",
        dest="cpu",
        action="store_true",
        help="every step on the CPU, tiny sizes (tests the plumbing)",
    )
    parser.add_argument(
        "--budget", type=float, default=BUDGET_S, help="seconds all steps may take together"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="STEP",
        help="run only these steps (pytest_gpu self_check activations ddp_fit throughput)",
    )
    parser.add_argument("--self-check", nargs=2, metavar=("DEVICE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.self_check:
        device, table = args.self_check
        self_check(device, Path(table))
        return 0
    if args.out is None:
        parser.error("give the output folder: python scripts/gpu_check.py OUT [--cpu]")

    import torch

    if not args.cpu and not torch.cuda.is_available():
        print(
            "gpu-check: skipped, no CUDA device visible (torch.cuda.is_available() is False); `--cpu` runs the steps on the CPU"
        )
        return 0
    gpus = 0 if args.cpu else torch.cuda.device_count()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    title = describe_machine(args.cpu)
    chosen = [s for s in steps(args.cpu, out, gpus) if not args.only or s.slug in args.only]
    deadline = time.monotonic() + args.budget
    rows: list[Row] = []
    for step in chosen:
        rows += run_step(step, out, deadline - time.monotonic(), args.cpu)
        table = markdown(rows, args.cpu)
        (out / "gpu_check.md").write_text(f"{title}\n\n{table}\n")
        (out / "gpu_check.json").write_text(
            json.dumps(
                {"title": title, "cpu": args.cpu, "rows": [asdict(r) for r in rows]}, indent=1
            )
        )
    print(f"{title}\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
