"""Single-pass C++ kernels of the fused activations on CPU (:file:`native.cpp`), built once per user.

Inductor's code for the element-wise backward reads ``x`` and ``grad`` twice (one loop nest for the
batch reductions of the parameter gradients, one for ``grad_x``) and each call of a compiled graph
pays dynamo's guards; on 004 §4.2's net that made CPAF-ReLU cost 1.4-1.7x ReLU's training step.
:file:`native.cpp` does forward and backward in one pass each: per block of positions the samples in
turn, the block's parameters and gradient accumulators held in L1 (element granularity), or whole
channels per thread (channel and layer granularity), OpenMP threads as ``torch.get_num_threads()``.

The source has no torch headers: :func:`torch.utils.cpp_extension.load` builds it in 2-7 s the
first time a process needs it, into torch's per-user extension cache (:func:`cache_dir`), where
later processes find it (loading, with cpp_extension's up-to-date check, takes about 0.2 s).
The ISA (AVX2, AVX512 or none, as torch detects it) is part of the library's name. Contiguous
float32 and float64 inputs only; :func:`library` returns ``None`` where the build fails (no C++
compiler) and the caller keeps its other kernels.
"""

from __future__ import annotations

import ctypes
import logging
import os
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("native.cpp")
#: the kernels' dtypes, as the C ABI numbers them.
DTYPES = {torch.float32: 0, torch.float64: 1}
#: the bases of :mod:`.cpu`, as the C ABI numbers them.
BASE_CODES = {"relu": 0, "sigmoid": 1}
_ISA_FLAGS = {"AVX512": ["-march=x86-64-v4"], "AVX2": ["-march=x86-64-v3"]}

_state: dict[str, object] = {}


def cache_dir() -> Path:
    """Where the library is built and kept: ``TORCH_EXTENSIONS_DIR`` if set, else
    ``~/.cache/torch_extensions`` (torch's own default), in a folder per ISA."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    return Path(root) if root else Path.home() / ".cache" / "torch_extensions"


def _build() -> ctypes.CDLL | None:
    # importing cpp_extension logs a warning about CUDA_HOME on CPU-only machines: not ours to show
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension
    finally:
        log.setLevel(level)

    isa = torch.backends.cpu.get_cpu_capability()
    flags = [
        "-O3",
        "-fno-trapping-math",
        "-fno-math-errno",
        "-fopenmp",
        "-std=c++17",
        *_ISA_FLAGS.get(isa, []),
    ]
    name = f"actlab_fused_{isa.lower()}"
    folder = cache_dir() / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        built = cpp_extension.load(
            name,
            [str(SOURCE)],
            extra_cflags=flags,
            extra_ldflags=["-fopenmp"],
            build_directory=str(folder),
            is_python_module=False,
            verbose=False,
        )
        # load() returns the library's path (it renames it when the source changed in-process)
        lib = ctypes.CDLL(built if isinstance(built, str) else str(folder / f"{name}.so"))
    except Exception as err:  # noqa: BLE001 - no compiler or a failed build: keep the other kernels
        warnings.warn(
            f"actlab fused activations: building the C++ CPU kernels failed ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); using the compiled torch code",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    i64, ptr, i32, f64 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    lib.actlab_ab_forward.argtypes = [i32, i32, *[ptr] * 4, i64, i64, i64, i64, f64, i32]
    lib.actlab_ab_backward.argtypes = [i32, i32, *[ptr] * 7, i64, i64, i64, i64, f64, i32]
    lib.actlab_prelu_forward.argtypes = [i32, *[ptr] * 3, i64, i64, i64, i32]
    lib.actlab_prelu_backward.argtypes = [i32, *[ptr] * 5, i64, i64, i64, i32]
    return lib


def library() -> ctypes.CDLL | None:
    """The built kernels, building them on first use; ``None`` if that failed (once per process)."""
    if "lib" not in _state:
        _state["lib"] = _build()
    return _state["lib"]  # type: ignore[return-value]


def serves(x: torch.Tensor, *params: torch.Tensor) -> bool:
    """Whether the kernels take this call: CPU, contiguous, float32 or float64 throughout."""
    return (
        x.device.type == "cpu"
        and x.dtype in DTYPES
        and x.is_contiguous()
        and all(p.dtype == x.dtype and p.is_contiguous() for p in params)
    )


def _geometry(x: torch.Tensor, site_ndim: int) -> tuple[int, int, int]:
    """``(n, c, s)`` of ``x`` for a site of ``site_ndim`` dims; ``c == 0`` means element."""
    if site_ndim == 0:  # layer: one channel over everything
        return 1, 1, x.numel()
    n = x.shape[0]
    if site_ndim == 1 and x.dim() > 2:  # channel
        c = x.shape[1]
        return n, c, x.numel() // max(n * c, 1)
    return n, 0, x.numel() // max(n, 1)  # element (and channel of 2-D input, the same thing)


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def ab_forward(
    x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, base: str, offset: float
) -> torch.Tensor:
    """:func:`.cpu.ab_forward` in one pass."""
    y = torch.empty_like(x)
    n, c, s = _geometry(x, a.dim() - 1)
    library().actlab_ab_forward(
        DTYPES[x.dtype], BASE_CODES[base], _ptr(x), _ptr(a), _ptr(b), _ptr(y),
        n, c, s, a.shape[0], offset, torch.get_num_threads(),
    )  # fmt: skip
    return y


def ab_backward(
    grad: torch.Tensor, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, base: str, offset: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`.cpu.ab_backward` in one pass."""
    grad_x, grad_a, grad_b = torch.empty_like(x), torch.empty_like(a), torch.empty_like(b)
    n, c, s = _geometry(x, a.dim() - 1)
    library().actlab_ab_backward(
        DTYPES[x.dtype], BASE_CODES[base], _ptr(grad), _ptr(x), _ptr(a), _ptr(b),
        _ptr(grad_x), _ptr(grad_a), _ptr(grad_b), n, c, s, a.shape[0], offset,
        torch.get_num_threads(),
    )  # fmt: skip
    return grad_x, grad_a, grad_b


def prelu_forward(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """:func:`.cpu.prelu_forward` in one pass."""
    y = torch.empty_like(x)
    n, c, s = _geometry(x, a.dim())
    library().actlab_prelu_forward(
        DTYPES[x.dtype], _ptr(x), _ptr(a), _ptr(y), n, c, s, torch.get_num_threads()
    )
    return y


def prelu_backward(
    grad: torch.Tensor, x: torch.Tensor, a: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`.cpu.prelu_backward` in one pass."""
    grad_x, grad_a = torch.empty_like(x), torch.empty_like(a)
    n, c, s = _geometry(x, a.dim())
    library().actlab_prelu_backward(
        DTYPES[x.dtype], _ptr(grad), _ptr(x), _ptr(a), _ptr(grad_x), _ptr(grad_a), n, c, s,
        torch.get_num_threads(),
    )  # fmt: skip
    return grad_x, grad_a
