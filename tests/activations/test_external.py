"""A user's own activation, first class (issue 21): every spec form, no actlab contract, per-site
parameters (channel argument or lazy), the trainable definition, plugins and one-line errors."""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path

import pytest
import timm
import torch
from torch import nn

from actlab.activations import (
    DeferredActivation,
    activation_layer,
    create_activation,
    is_activation_module,
    is_trainable_activation,
    resolve_activation,
    swap_activations,
    trainable_activations,
)
from actlab.errors import ActlabError, UnknownNameError
from actlab.tasks import ClassificationModule
from actlab.tasks.classification import create_backbone
from actlab.tracking import activation_params as ap
from tests.activations import user_acts
from tests.activations.test_swap_timm import ARCHS

MOD = "tests.activations.user_acts"
PLUGIN = Path(__file__).parent / "plugin"


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.ReLU()
    )


def _alphas(model: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(m.alpha.shape) for m in model.modules() if isinstance(m, user_acts.Snake)]


# -- every spec form -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "canonical", "alpha"),
    [
        (f"{MOD}:Snake", f"{MOD}:Snake", 1.0),
        (f"{MOD}.Snake", f"{MOD}.Snake", 1.0),
        (f"{MOD}.Snake(alpha=0.5)", f"{MOD}.Snake(alpha=0.5)", 0.5),
        (f"{MOD}:Snake(alpha=0.5)", f"{MOD}:Snake(alpha=0.5)", 0.5),
        ({"class_path": f"{MOD}.Snake", "init_args": {"alpha": 0.5}}, f"{MOD}.Snake(alpha=0.5)", 0.5),
        ({"name": f"{MOD}.Snake", "alpha": 0.5}, f"{MOD}.Snake(alpha=0.5)", 0.5),
        (user_acts.Snake, f"{MOD}.Snake", 1.0),
        (functools.partial(user_acts.Snake, alpha=0.5), f"{MOD}.Snake", 0.5),
    ],
    ids=["colon", "dot", "dot-args", "colon-args", "class_path", "name-key", "class", "partial"],
)  # fmt: skip
def test_every_spec_form_swaps_per_channel_snakes(spec, canonical: str, alpha: float) -> None:
    resolved = resolve_activation(spec)
    assert resolved.spec == canonical and resolved.site_dependent
    model = _net()
    report = swap_activations(model, spec, input_shape=(1, 8, 8), strict=True)
    assert report.spec == canonical and len(report.replaced) == 2
    assert [s.parameters for s in report.trainable] == [{"alpha": [4]}, {"alpha": [5]}]
    assert _alphas(model) == [(4,), (5,)]  # the site's channels, before any forward
    assert all(torch.all(m.alpha == alpha) for m in model.modules() if hasattr(m, "alpha"))
    model(torch.randn(2, 1, 8, 8)).sum().backward()
    assert report.provenance["class"] == f"{MOD}.Snake"
    digest = hashlib.sha256(Path(user_acts.__file__).read_bytes()).hexdigest()
    assert report.provenance["source_sha256"] == digest


def test_factory_scalar_and_fixed_activations() -> None:
    model = _net()
    swap_activations(model, user_acts.make_snake, input_shape=(1, 8, 8))
    assert _alphas(model) == [(1,), (1,)]  # the factory chose one alpha per layer
    for spec, trainable in ((f"{MOD}:ScaledTanh", True), (f"{MOD}:SquarePlus(b=1.0)", False)):
        model = _net()
        report = swap_activations(model, spec, input_shape=(1, 8, 8))
        assert len(report.replaced) == 2 and bool(report.trainable) is trainable
        assert len(trainable_activations(model)) == (2 if trainable else 0)


def test_create_activation_without_a_site_defers_the_channel_argument() -> None:
    module = create_activation(f"{MOD}.Snake")
    assert isinstance(module, DeferredActivation)
    assert module(torch.randn(3, 6, 2, 2)).shape == (3, 6, 2, 2)
    assert module.module.alpha.shape == (6,)
    given = create_activation(f"{MOD}.Snake(channels=2)")  # given: no deferral
    assert isinstance(given, user_acts.Snake) and given.alpha.shape == (2,)


def test_inplace_is_passed_only_to_a_class_that_takes_it() -> None:
    build = activation_layer(user_acts.SquarePlus)
    assert isinstance(build(inplace=True), user_acts.SquarePlus)
    assert isinstance(build(True), user_acts.SquarePlus)
    assert isinstance(build(), user_acts.SquarePlus)
    assert activation_layer(nn.SiLU) is nn.SiLU  # torch's classes pass through


@pytest.mark.parametrize(
    "spec",
    [f"{MOD}.Snake", f"{MOD}:Snake", f"{MOD}.LazySnake"],
    ids=["channels", "channels-colon", "lazy"],
)
def test_act_layer_gets_per_site_parameters_before_the_optimizer(spec: str) -> None:
    backbone = create_backbone("small_cnn", 3, (1, 8, 8), act_layer=spec, channels=[4, 8])
    assert not any(isinstance(m, DeferredActivation) for m in backbone.modules())
    shapes = [tuple(m.alpha.shape) for m in backbone.modules() if hasattr(m, "alpha")]
    assert shapes == [(4,), (4,), (8,), (8,)]
    backbone(torch.randn(2, 1, 8, 8)).sum().backward()


#: Five families of the broad swap test: convnet, SE-net, depthwise, ConvNeXt, ViT.
FAMILIES = ("resnet", "regnety (SE)", "mobilenetv3", "convnext", "vit")


@pytest.mark.parametrize("family", FAMILIES)
def test_lazy_per_channel_user_activation_in_timm_families(family: str) -> None:
    _, name, kwargs, size, _ = next(a for a in ARCHS if a[0] == family)
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=3, **kwargs)
    report = swap_activations(model, f"{MOD}:LazySnake(alpha=0.5)", input_shape=(3, size, size))
    assert report.replaced and len(report.trainable) == len(report.replaced)
    lazy = [m for m in model.modules() if isinstance(m, user_acts.LazySnake)]
    assert len(lazy) == len(report.replaced)
    assert not any(m.has_uninitialized_params() for m in lazy)  # created by the swap
    out = model(torch.randn(2, 3, size, size))
    out.sum().backward()
    assert out.shape == (2, 3) and all(m.alpha.grad is not None for m in lazy)


# -- one definition of trainable ---------------------------------------------------------------


def test_optimizer_group_tracking_and_swap_report_agree_on_a_user_activation() -> None:
    module = ClassificationModule(
        backbone="small_cnn", num_classes=3, input_shape=(1, 8, 8),
        backbone_kwargs={"channels": [4, 8]}, activation=f"{MOD}.Snake(alpha=0.5)",
    )  # fmt: skip
    found = trainable_activations(module.backbone)
    assert sorted(found) == sorted(s.name for s in module.swap_report.trainable)
    assert all(is_trainable_activation(m) and is_activation_module(m) for m in found.values())
    group = {id(p) for p in module.parameter_groups()[1]["params"]}
    assert group == {id(m.alpha) for m in found.values()}
    metrics = ap.summary_metrics(found)
    assert len(metrics) == 4 and all(k.endswith("/alpha_mean") for k in metrics)
    x = torch.linspace(-2, 2, 5)
    for m in found.values():
        y = ap.curve(m, x)
        assert y is not None and y.shape == (5, m.alpha.numel())
    image = ap.curves_image(found, ap.snapshot(found), "t")
    assert image.ndim == 3 and ap.ab_activations(found) == {}


# -- bad specs: one line each ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "error", "expect"),
    [
        ("nosuchmodule_xyz.Snake", ActlabError, ("module 'nosuchmodule_xyz' does not import", "ModuleNotFoundError")),
        (f"{MOD}.Snak", ActlabError, ("unknown attribute of module", "'Snak'", "did you mean 'Snake'")),
        (f"{MOD}:NotAModule", ActlabError, ("is a class but not a torch.nn.Module",)),
        (f"{MOD}:make_nothing", ActlabError, ("returned None, not an nn.Module",)),
        (f"{MOD}:NeedsShift", ActlabError, ("missing required argument(s) shift", "NeedsShift(shift=...)")),
        (f"{MOD}:Snake(beta=1)", ActlabError, ("has no argument(s) beta", "channels=", "alpha=1.0")),
        ("snak", UnknownNameError, ("unknown activation 'snak'", "import path")),
        ({"class_path": f"{MOD}.Snake", "bad": 1}, ActlabError, ("class_path", "bad")),
    ],
    ids=["no-module", "no-attribute", "not-module", "factory-none", "missing-arg", "unknown-arg", "unknown-name", "class-form-key"],
)  # fmt: skip
def test_bad_specs_are_one_line(spec, error, expect) -> None:
    with pytest.raises(error) as err:
        swap_activations(_net(), spec, input_shape=(1, 8, 8))
    message = str(err.value)
    assert "\n" not in message
    for text in expect:
        assert text in message, message


def test_a_module_that_fails_to_import_shows_its_import_error(tmp_path, monkeypatch) -> None:
    (tmp_path / "broken_acts_21.py").write_text("import not_installed_dependency_21\n")
    monkeypatch.chdir(tmp_path)  # the current folder is importable
    with pytest.raises(ActlabError, match="No module named 'not_installed_dependency_21'"):
        create_activation("broken_acts_21:Snake")
    assert "broken_acts_21" not in sys.modules


def test_an_activation_that_changes_the_shape_is_found_naming_the_site() -> None:
    with pytest.raises(
        ActlabError,
        match=r"changes the shape of its input at site 1: \(2, 4, 6, 6\) -> \(2, 4, 3, 3\)",
    ):
        swap_activations(_net(), f"{MOD}:HalfPool", input_shape=(1, 8, 8))
    with pytest.raises(ActlabError, match="changes the shape of its input at site features.2"):
        create_backbone("small_cnn", 3, (1, 8, 8), act_layer=f"{MOD}:HalfPool", channels=[4, 8])


# -- plugins -------------------------------------------------------------------------------------


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny package in tests/activations/plugin/, installed for this test only (its folder,
    with its ``.dist-info``, first on ``sys.path``)."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    return PLUGIN


def test_a_plugin_registers_activations_and_nets_by_entry_point(plugin, capsys) -> None:
    resolved = resolve_activation("snake_plugin(alpha=0.5)")
    assert resolved.origin == "plugin snake-acts" and resolved.spec == "snake_plugin(alpha=0.5)"
    model = _net()
    report = swap_activations(model, "snake_plugin", input_shape=(1, 8, 8))
    assert [s.parameters for s in report.trainable] == [{"alpha": [4]}, {"alpha": [5]}]
    backbone = create_backbone("snake_mlp", 3, (30,), act_layer="snake_plugin")
    assert backbone(torch.randn(2, 30)).shape == (2, 3)

    from actlab.cli.activations import activations

    assert activations([f"{MOD}:Snake", "--trainable"]) == 0
    lines = capsys.readouterr().out.splitlines()
    plugin_line = next(line for line in lines if line.startswith("snake_plugin"))
    assert "plugin snake-acts" in plugin_line and "yes" in plugin_line
    assert "num_parameters=<site's channels>, alpha=1.0" in plugin_line
    assert any(line.startswith(f"{MOD}:Snake") and "import path" in line for line in lines)
    assert not any(line.startswith("relu ") for line in lines)  # --trainable


def test_act_layer_records_where_the_activation_came_from() -> None:
    """An activation given through ``backbone_kwargs.act_layer`` is traced like a swapped one:
    its class and origin as params, its source file and hash as tags; built-in and timm names
    need only the name the config records."""
    from actlab.tracking.config import used_model_params

    kwargs = {"act_layer": f"{MOD}:Snake", "channels": [4, 8]}  # the colon form, a plain string
    task = ClassificationModule("small_cnn", 3, (1, 8, 8), backbone_kwargs=kwargs)
    found = task.act_layer_provenance["act_layer"]
    assert found["class"] == f"{MOD}.Snake" and found["origin"] == "import path"
    source = Path(user_acts.__file__).read_bytes()
    assert found["source_sha256"] == hashlib.sha256(source).hexdigest()
    params = used_model_params(task)
    assert params["model.backbone_kwargs.act_layer_class"] == f"{MOD}.Snake"
    assert params["model.backbone_kwargs.act_layer_origin"] == "import path"
    for name in ("cpaf_relu(k=2)", "hard_swish"):
        kwargs = {"act_layer": name, "channels": [4, 8]}
        task = ClassificationModule("small_cnn", 3, (1, 8, 8), backbone_kwargs=kwargs)
        assert task.act_layer_provenance == {}
