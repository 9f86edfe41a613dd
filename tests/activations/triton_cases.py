"""Fused Triton kernels against the closed-form torch code, on CPU tensors in Triton's interpreter.

Run by tests/activations/test_fused.py in a subprocess with ``TRITON_INTERPRET=1`` (it must be set
before triton is imported); prints ``ok <cases>`` or fails with the first mismatch.
"""

from __future__ import annotations

import os
import sys

assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"

import torch  # noqa: E402

from actlab.activations.fused import cpu  # noqa: E402
from actlab.activations.fused import triton as kernels  # noqa: E402

SHAPES = [((3, 5, 7, 9), False), ((3, 5, 7, 9), True), ((2, 3), False), ((4, 3, 5), False)]
GRANULARITIES = ("layer", "channel", "element")
#: (base, offset, k, shape, channels_last, granularity, dtype): every family, granularity and
#: layout in fp32 with k = 1 and 3 (3 pads to 4 rows), k = 2 and 4 once, bf16 for each base.
CASES = [
    *[
        (base, offset, k, shape, cl, gran, torch.float32)
        for base, offset, ks in [
            ("sigmoid", 0.5, (1, 3)),
            ("relu", 0.0, (1, 3)),
            ("prelu", 0.0, (1,)),
        ]
        for k in ks
        for shape, cl in SHAPES
        for gran in GRANULARITIES
    ],
    *[("relu", 0.5, k, (3, 5, 7, 9), False, "channel", torch.float32) for k in (2, 4)],
    *[("sigmoid", 0.0, 2, (3, 5, 7, 9), False, gran, torch.float32) for gran in GRANULARITIES],
    *[
        (base, offset, k, (3, 5, 7, 9), True, gran, torch.bfloat16)
        for base, offset, k in [("sigmoid", 0.5, 2), ("relu", 0.5, 2), ("prelu", 0.0, 1)]
        for gran in ("channel", "element")
    ],
]


def _site(shape: tuple[int, ...], granularity: str) -> tuple[int, ...]:
    return {"layer": (), "channel": (shape[1],), "element": shape[1:]}[granularity]


def _reference(g, x, a, b, base, offset):
    if base == "prelu":
        return cpu.prelu_forward(x, a), (*cpu.prelu_backward(g, x, a), None)
    return cpu.ab_forward(x, a, b, base, offset), cpu.ab_backward(g, x, a, b, base, offset)


def main() -> int:
    torch.manual_seed(0)
    for case in CASES:
        base, offset, k, shape, channels_last, granularity, dtype = case
        x = (torch.randn(shape) * 2).to(dtype)
        if channels_last:
            x = x.to(memory_format=torch.channels_last)
        lead = () if base == "prelu" else (k,)
        a = torch.randn((*lead, *_site(shape, granularity)))
        b = None if base == "prelu" else torch.randn_like(a)
        g = torch.randn(shape).to(dtype)
        # the oracle: the closed form in float64 on the (upcast) same values
        b64 = None if b is None else b.double()
        want_y, want_grads = _reference(g.double(), x.double(), a.double(), b64, base, offset)
        y = kernels.forward(x, a, b, base, offset)
        grads = kernels.backward(g, x, a, b, base, offset)
        again = kernels.backward(g, x, a, b, base, offset)
        assert y.dtype == dtype and y.stride() == x.stride(), case
        assert grads[0].dtype == dtype and grads[1].dtype == a.dtype, case
        tol = (
            {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 5e-2}
        )
        torch.testing.assert_close(y.double(), want_y, **tol, msg=str(case))
        for got, want, rep in zip(grads, want_grads, again, strict=True):
            if want is None:
                continue
            torch.testing.assert_close(got.double(), want, **tol, msg=str(case))
            assert torch.equal(got, rep), f"not deterministic: {case}"
    print("ok", len(CASES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
