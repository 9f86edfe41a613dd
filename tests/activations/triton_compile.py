"""Compile every fused Triton kernel for an H100 (sm_90) down to a cubin, without a GPU.

Catches what Triton's interpreter lets through (types, shapes of loop-carried values, constexpr
branches). Run by tests/activations/test_fused.py in a subprocess with a private
``TRITON_CACHE_DIR``; prints ``ok <kernels>`` or fails with the first compiler error.
"""

from __future__ import annotations

import sys

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from actlab.activations.fused import triton as kernels

TARGET = GPUTarget("cuda", 90, 32)
STRIDES = {
    "forward": "sxn sxc sxl syn syc syl spk spc spl",
    "backward": "sgn sgc sgl sxn sxc sxl son soc sol spk spc spl",
}


def _compile(kernel, pointers: dict[str, str], ints: str, constexprs: dict) -> None:
    signature = {
        **pointers,
        **{name: "i32" for name in ints.split()},
        **{name: "constexpr" for name in constexprs},
    }
    triton.compile(ASTSource(fn=kernel, signature=signature, constexprs=constexprs), target=TARGET)


def main() -> int:
    count = 0
    for data in ("*bf16",):  # fp32 data differs only in the (no-op) casts
        for base in (0, 1, 2):
            for k, kp in ((1, 1), (3, 4)) if base != 2 else ((1, 1),):
                tile = {"K": k, "KP": kp, "BASE": base, "OFFSET": 0.5, "BLOCK": 1024}
                rows = {"K": k, "BASE": base, "OFFSET": 0.5, "BM": 64, "BC": 64}
                params = {"a_ptr": "*fp32", "b_ptr": "*fp32"}
                fwd = {"x_ptr": data, "y_ptr": data, **params}
                bwd = {"g_ptr": data, "x_ptr": data, "gx_ptr": data, **params}
                sums = {"pa_ptr": "*fp32", "pb_ptr": "*fp32"}
                grads = {"ga_ptr": "*fp32", "gb_ptr": "*fp32"}
                _compile(kernels._forward_kernel, fwd, f"NL L {STRIDES['forward']}", tile)
                _compile(
                    kernels._backward_kernel,
                    {**bwd, **sums},
                    f"NL L C T {STRIDES['backward']}",
                    tile,
                )
                _compile(
                    kernels._backward_element_kernel,
                    {**bwd, **grads},
                    f"N L {STRIDES['backward']}",
                    tile,
                )
                _compile(kernels._rows_forward_kernel, fwd, "M C sxm sym spk spc", rows)
                _compile(
                    kernels._rows_backward_kernel,
                    {**bwd, **sums},
                    "M C T sgm sxm som spk spc",
                    rows,
                )
                count += 5
    print("ok", count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
