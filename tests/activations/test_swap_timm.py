"""The swap across timm: 32 architectures from different families, built small (issue 13.2).

For each: every activation module is replaced except the gates (and, for a per-channel spec,
modules reused at several sites); forward and backward run; an identical-spec swap of the native
activations leaves the outputs unchanged; strict mode raises exactly where timm itself reuses a
module or calls an activation functionally. Cost: about 13 CPU seconds for all 32 (one thread).
"""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from actlab.activations import Activation, is_activation_module, is_sigmoid_like, swap_activations
from actlab.errors import ActlabError

#: (family, timm name, small kwargs, input size, what strict mode must flag).
ARCHS = [
    ("resnet", "resnet18", {}, 32, None),
    ("resnext", "resnext50_32x4d", {"layers": (1, 1, 1, 1)}, 32, None),
    ("se-resnet", "seresnet18", {}, 32, None),
    ("densenet", "densenet121", {"block_config": (1, 1, 1, 1), "growth_rate": 8}, 32, None),
    ("vgg", "vgg11", {"mlp_ratio": 0.0625}, 32, None),
    ("efficientnet", "efficientnet_b0", {}, 32, None),
    ("mobilenetv2", "mobilenetv2_035", {}, 32, None),
    ("mobilenetv3", "mobilenetv3_small_050", {}, 32, None),
    ("ghostnet", "ghostnet_050", {}, 32, None),
    ("ghostnetv2 (DFC attention)", "ghostnetv2_100", {}, 64, None),
    ("regnetx", "regnetx_002", {}, 32, None),
    ("regnety (SE)", "regnety_002", {}, 32, None),
    ("convnext", "convnext_atto", {}, 32, None),
    ("csp", "cs3darknet_focus_s", {}, 32, None),
    ("dla", "dla46_c", {}, 32, "reused"),
    ("res2net", "res2net50_26w_4s", {"layers": (1, 1, 1, 1)}, 32, "reused"),
    ("rexnet", "rexnet_100", {}, 32, None),
    ("vit", "vit_tiny_patch16_224", {"img_size": 32, "depth": 2}, 32, None),
    ("deit", "deit_tiny_patch16_224", {"img_size": 32, "depth": 2}, 32, None),
    ("eva02 (SwiGLU)", "eva02_tiny_patch14_224", {"img_size": 28, "depth": 2}, 28, None),
    (
        "swin",
        "swin_tiny_patch4_window7_224",
        {"img_size": 56, "depths": (1, 1, 1, 1), "embed_dim": 24, "num_heads": (1, 1, 1, 1)},
        56,
        None,
    ),  # fmt: skip
    ("mobilevit", "mobilevit_xxs", {}, 64, None),
    ("mobilevitv2", "mobilevitv2_050", {}, 64, "functional"),
    ("coatnet (conv-attention hybrid)", "coatnet_nano_rw_224", {"img_size": 64}, 64, None),
    ("resnet-vit hybrid", "vit_tiny_r_s16_p8_224", {"img_size": 32, "depth": 2}, 32, None),
    ("eca", "ecaresnet26t", {}, 32, None),
    ("cbam", "resnet18", {"block_args": {"attn_layer": "cbam"}}, 32, "reused"),
    ("global context", "gcresnet33ts", {}, 32, None),
    ("effective SE", "ese_vovnet19b_dw", {}, 32, None),
    ("selective kernel", "skresnet18", {}, 32, None),
    ("split attention", "resnest14d", {}, 32, None),
    ("efficientvit", "efficientvit_b0", {}, 64, "reused"),
]

#: Native activation types and the actlab spec that computes exactly the same function.
IDENTICAL = {
    nn.ReLU: "relu", nn.SiLU: "silu", nn.GELU: "gelu", nn.Mish: "mish", nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh", timm.layers.activations.GELU: "gelu", timm.layers.activations.Swish: "silu",
}  # fmt: skip


#: Families whose native activations (ReLU6, hard-swish) have no identical actlab spec.
NO_IDENTICAL_SPEC = {"mobilenetv2"}


def _build(name: str, kwargs: dict) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, num_classes=3, **kwargs)


def _identical_spec(module: nn.Module) -> str | None:
    spec = IDENTICAL.get(type(module))
    if isinstance(module, nn.GELU) and module.approximate != "none":
        return None
    return spec


@pytest.mark.parametrize(
    ("family", "name", "kwargs", "size", "unreachable"), ARCHS, ids=[a[0] for a in ARCHS]
)
def test_every_site_but_gates_is_swapped(
    family: str, name: str, kwargs: dict, size: int, unreachable: str | None
) -> None:
    x = torch.randn(2, 3, size, size)
    model = _build(name, kwargs)
    native = {n: type(m) for n, m in model.named_modules() if is_activation_module(m)}
    spec = "cpaf_relu(k=2)"  # per-channel parameters: reuse is ill-defined, so strict flags it
    if unreachable is None:
        report = swap_activations(model, spec, example_input=x, strict=True)
    else:
        with pytest.raises(ActlabError, match=rf"cannot reach .*\({unreachable}\)"):
            swap_activations(model, spec, example_input=x, strict=True)
        report = swap_activations(model, spec, example_input=x)
        assert {s.kind for s in report.unreachable} == {unreachable}
    assert report.dry_run

    kept = {s.name: s for s in report.skipped}
    left = {
        n
        for n, m in model.named_modules()
        if is_activation_module(m) and not isinstance(m, Activation)
    }
    assert left == {n for n, s in kept.items() if s.kind in ("gate", "reused")}
    for gate in (s for s in report.skipped if s.kind == "gate"):
        assert is_sigmoid_like(model.get_submodule(gate.name)), gate
        assert "multiplies the features" in gate.reason or "not called" in gate.reason, gate
    swapped = {id(m) for m in model.modules() if isinstance(m, Activation)}
    assert len(report.replaced) == len(swapped) > 0
    assert all(native[s.name] is not None for s in report.replaced)

    model.train()
    out = model(x)
    out.sum().backward()
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    called = [m for m in model.modules() if isinstance(m, Activation)]
    assert all(p.grad is not None for m in called for p in m.parameters()), family

    # an identical-spec swap of every native activation (gates too) changes nothing
    reference = _build(name, kwargs).eval()
    with torch.no_grad():
        before = reference(x)
    by_spec: dict[str, list[str]] = {}
    for n, m in reference.named_modules():
        if is_activation_module(m) and _identical_spec(m):
            by_spec.setdefault(_identical_spec(m), []).append(n)
    assert by_spec or family in NO_IDENTICAL_SPEC, family
    for same, names in by_spec.items():
        swap_activations(reference, same, include=names, gates=True, example_input=x)
    with torch.no_grad():
        torch.testing.assert_close(reference(x), before)
