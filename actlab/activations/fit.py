"""Function-preserving swap: fit each new activation, per site, to the activation it replaced.

A pretrained network loses what it learned when its activations are swapped for a family at its
default parameters (CPAF-ReLU at 004 Table 1's values is x on [-1, 1], 2x - 1 above, -1 below, not
ReLU). ``activation_init="fit"`` instead fits every new trainable activation's parameters, within
the family's own shapes (one set per layer, channel or element), to the old activation *over the
inputs that site sees*: the old network runs on a few training batches, each site's inputs are
recorded, and the new module's parameters minimise the squared error to the old module's output
on them (least squares):

- ``prelu`` (actlab's and ``nn.PReLU``): closed form, ``a = sum x g(x) / sum x^2`` over the
  site's negative inputs; for ReLU that is ``a = 0``, i.e. ReLU exactly.
- the (a, b) families ``sum_i a_i (base(x - b_i) - offset)`` (agile, PA, CPAF): linear in ``a``,
  so for each candidate ``b`` (quantile-like points of the site's inputs, 0, and points beyond
  their range, where a term is constant) ``a`` is solved in closed form per site and the best
  candidate kept; then ``torch.optim.LBFGS`` refines ``(a, b)`` jointly, and a site keeps
  whichever is better. CPAF-ReLU with k = 2 holds ReLU exactly on a bounded range
  (a = (1, -1), b = (0, beyond the largest input)); PA-ReLU (k = 1) cannot and is approximate.
- any other trainable activation: LBFGS on its own parameters from their initial values.

The fit error of a site is the relative RMS error ``sqrt(sum (f - g)^2 / sum g^2)`` of the fitted
module ``f`` against the old ``g`` over the recorded inputs (the absolute RMS where ``g`` is 0
throughout). Sites above :data:`FIT_TOLERANCE` are named in the swap report: the family cannot
approximate that activation well on those inputs, so the swapped network will not start where the
old one was.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from actlab.activations.parameters import is_trainable_activation
from actlab.activations.trainable import ABActivation, PReLU

#: ``activation_init``: the family's own initial values, or fitted to the replaced activation.
ActivationInit = Literal["default", "fit"]
ACTIVATION_INITS: tuple[str, ...] = ("default", "fit")
#: Relative RMS fit error above which a site is named as poorly approximated.
FIT_TOLERANCE = 0.05
#: At most this many samples per batch and site are kept for a layer- or channel-wise site
#: (positions are subsampled with a fixed seed; element-wise sites keep every sample).
MAX_ROWS_PER_BATCH = 8192
#: Relative offsets (in standard deviations from the mean) of the candidate shifts ``b``.
CANDIDATE_Z = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)
#: At most this many candidate ``b`` sets are tried per family (k > 2 take a strided subset).
MAX_CANDIDATES = 64
#: LBFGS iterations of the joint refinement.
LBFGS_ITERATIONS = 100


@dataclass
class SiteFit:
    """The fit of one replaced site: its relative RMS error, samples and method."""

    name: str
    error: float | None
    samples: int
    method: str


def check_activation_init(value: object) -> ActivationInit:
    """``value`` if it is a valid ``activation_init``, else one line naming the valid ones."""
    if value not in ACTIVATION_INITS:
        from actlab.errors import ActlabError

        msg = f"unknown activation_init {value!r}; valid: {', '.join(ACTIVATION_INITS)}"
        raise ActlabError(msg)
    return value  # type: ignore[return-value]


# -- the sample layout of a site --------------------------------------------------------------


def site_shape_of(module: nn.Module) -> tuple[int, ...] | None:
    """The site of a trainable activation's parameters (``()``, ``(C,)``, ``(C, H, W)``), or
    ``None`` when it has none yet (lazy) or is not parameterised per site."""
    if isinstance(module, nn.PReLU):
        return () if module.weight.numel() == 1 else (module.weight.numel(),)
    if isinstance(module, PReLU):
        return None if module.a is None else tuple(module.a.shape)
    a = getattr(module, "a", None)
    if isinstance(a, torch.Tensor) and a.dim() >= 1:
        return tuple(a.shape[1:])
    return None


def samples_of(x: torch.Tensor, site: tuple[int, ...] | None) -> torch.Tensor:
    """The inputs ``x`` (batch first) as samples ``(M, *site)`` of a site shaped ``site``:
    every value for a layer-wise site, ``(positions, C)`` for a channel-wise one, the batch for an
    element-wise one (and for ``site=None``, the input as it is)."""
    if site is None or (len(site) > 0 and tuple(x.shape[1:]) == site):
        return x
    if len(site) == 0:
        return x.reshape(-1)
    return x.movedim(1, -1).reshape(-1, site[0])


# -- recording the inputs ---------------------------------------------------------------------


def record_inputs(
    model: nn.Module,
    sites: dict[str, tuple[nn.Module, tuple[int, ...] | None]],
    batches: Iterable[torch.Tensor],
    max_rows: int = MAX_ROWS_PER_BATCH,
) -> dict[str, torch.Tensor]:
    """Run ``batches`` through ``model`` (eval mode, no gradients) and return, per site name, the
    inputs its module received as samples ``(M, *site)`` (:func:`samples_of`).

    Args:
        model: the network with the modules of ``sites`` in place.
        sites: name -> (the module called there, the site shape of its replacement).
        batches: input batches (already on the model's device).
        max_rows: samples kept per batch for layer- and channel-wise sites.
    """
    generator = torch.Generator().manual_seed(0)
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in sites}
    hooks = []
    for name, (module, site) in sites.items():

        def hook(_module, args, name=name, site=site):
            x = samples_of(args[0].detach(), site)
            if (site is None or len(site) <= 1) and x.shape[0] > max_rows and x.dim() <= 2:
                rows = torch.randperm(x.shape[0], generator=generator)[:max_rows]
                x = x[rows.to(x.device)]
            recorded[name].append(x.clone())

        hooks.append(module.register_forward_pre_hook(hook))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            for x in batches:
                model(x)
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return {name: torch.cat(xs) for name, xs in recorded.items() if xs}


# -- the fits ---------------------------------------------------------------------------------


def _per_site_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over the sample dim (dim 0 of the samples, dim 1 of a stacked (k, M, ...) tensor)."""
    return t.sum(dim=0)


def _fit_prelu(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Least-squares ``a`` per site of ``x if x > 0 else a x`` against ``g`` (closed form)."""
    neg = x <= 0
    xn = torch.where(neg, x, torch.zeros_like(x))
    gn = torch.where(neg, g, torch.zeros_like(g))
    num = _per_site_sum(xn * gn)
    den = _per_site_sum(xn * xn)
    return torch.where(
        den > 0, num / den.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(num)
    )


def _base(name: str) -> callable:
    return {"relu": F.relu, "sigmoid": torch.sigmoid}[name]


def _ab_value(module: ABActivation, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """The family's formula on samples ``x`` (M, *site) with ``a``, ``b`` shaped (k, *site)."""
    return type(module).fn(x, a.unsqueeze(1), b.unsqueeze(1))


def _solve_a(phi: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Least-squares ``a`` (k, *site) of ``sum_i a_i phi_i`` against ``g`` per site, with a tiny
    ridge so that a term constant on the data (or absent) gets a = 0 rather than noise."""
    k = phi.shape[0]
    site_dims = phi.dim() - 2
    gram = torch.einsum("im...,jm...->...ij", phi, phi)
    rhs = torch.einsum("im...,m...->...i", phi, g)
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True).clamp_min(1e-30)
    eye = torch.eye(k, dtype=phi.dtype, device=phi.device)
    a = torch.linalg.solve(gram + 1e-10 * scale.unsqueeze(-1) * eye, rhs.unsqueeze(-1))
    return a.squeeze(-1).permute(site_dims, *range(site_dims)) if site_dims else a.squeeze(-1)


def _candidate_shifts(x: torch.Tensor, k: int, default_b: torch.Tensor) -> list[torch.Tensor]:
    """Candidate ``b`` sets (each (k, *site)): combinations of points of the site's inputs."""
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    lo, hi = x.amin(0), x.amax(0)
    points = [mean + z * std for z in CANDIDATE_Z]
    points += [torch.zeros_like(mean), lo - std, hi + std]
    combos = list(itertools.combinations(range(len(points)), k)) if k <= len(points) else []
    if len(combos) > MAX_CANDIDATES:
        step = len(combos) / MAX_CANDIDATES
        combos = [combos[int(i * step)] for i in range(MAX_CANDIDATES)]
    candidates = [torch.stack([points[i] for i in combo]) for combo in combos]
    return [default_b.expand(k, *mean.shape).to(x), *candidates]


def _fit_ab(module: ABActivation, x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(a, b)`` (k, *site) of an (a, b) family fitted to ``g`` on samples ``x``."""
    k = module.k
    base = _base(module.base)
    norm = (g * g).mean(0).clamp_min(1e-12)

    def site_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((_ab_value(module, x, a, b) - g) ** 2).mean(0) / norm

    default_b = module.b.detach().to(x) if module.b is not None else torch.zeros(k).to(x)
    if default_b.dim() == 1:
        default_b = default_b.reshape(k, *([1] * (x.dim() - 1)))
    best_a = best_b = best_loss = None
    for b in _candidate_shifts(x, k, default_b):
        phi = base(x.unsqueeze(0) - b.unsqueeze(1)) - module.offset
        a = _solve_a(phi, g)
        loss = site_loss(a, b)
        if best_loss is None:
            best_a, best_b, best_loss = a, b.clone(), loss
            continue
        better = loss < best_loss
        keep = better.unsqueeze(0)
        best_a = torch.where(keep, a, best_a)
        best_b = torch.where(keep, b, best_b)
        best_loss = torch.where(better, loss, best_loss)

    a = best_a.contiguous().clone().requires_grad_(True)
    b = best_b.contiguous().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [a, b], lr=1, max_iter=LBFGS_ITERATIONS, line_search_fn="strong_wolfe",
        tolerance_grad=1e-12, tolerance_change=1e-14,
    )  # fmt: skip

    def closure():
        optimizer.zero_grad()
        loss = site_loss(a, b).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        refined = site_loss(a, b)
        better = (refined < best_loss) & torch.isfinite(refined)
        keep = better.unsqueeze(0)
        return torch.where(keep, a, best_a), torch.where(keep, b, best_b)


def _fit_generic(module: nn.Module, x: torch.Tensor, g: torch.Tensor) -> None:
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        return
    norm = (g * g).mean().clamp_min(1e-12)
    start = [p.detach().clone() for p in params]
    optimizer = torch.optim.LBFGS(
        params, lr=1, max_iter=LBFGS_ITERATIONS, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = ((module(x) - g) ** 2).mean() / norm
        loss.backward()
        return loss

    with torch.no_grad():
        before = ((module(x) - g) ** 2).mean()
    optimizer.step(closure)
    with torch.no_grad():
        after = ((module(x) - g) ** 2).mean()
        if not torch.isfinite(after) or after > before:
            for p, s in zip(params, start, strict=True):
                p.copy_(s)


def _as_input(x: torch.Tensor, site: tuple[int, ...] | None) -> torch.Tensor:
    """Samples as an input a module takes: a layer-wise site's flat values as one feature."""
    return x.reshape(-1, 1) if site is not None and len(site) == 0 else x


def relative_error(f: torch.Tensor, g: torch.Tensor) -> float:
    """``sqrt(sum (f - g)^2 / sum g^2)``; the absolute RMS error where ``g`` is 0 throughout."""
    err = float(((f.double() - g.double()) ** 2).sum())
    ref = float((g.double() ** 2).sum())
    return math.sqrt(err / ref) if ref > 0 else math.sqrt(err / max(f.numel(), 1))


def fit_activation(name: str, new: nn.Module, old: nn.Module, x: torch.Tensor) -> SiteFit:
    """Fit ``new``'s parameters (in place) to ``old`` on the samples ``x`` of its site.

    Args:
        name: the site's qualified name (for the report).
        new: the swapped-in activation (its parameters already created for the site).
        old: the activation it replaced (called in eval mode, on a copy of ``x``).
        x: the site's recorded inputs as samples ``(M, *site)`` (:func:`record_inputs`).
    """
    site = site_shape_of(new)
    if site is None and hasattr(new, "materialize"):  # lazy: no dry forward created them
        new.materialize(x.shape, x.device, x.dtype)
        site = site_shape_of(new)
        x = samples_of(x, site)
    was = old.training
    old.eval()
    with torch.no_grad():
        g = old(_as_input(x, site).clone()).reshape(x.shape)
    old.train(was)
    samples = int(x.shape[0])
    xd, gd = x.double(), g.double()
    method = "none (no trainable parameters)"
    with torch.enable_grad():
        if isinstance(new, (PReLU, nn.PReLU)):
            a = _fit_prelu(xd, gd)
            with torch.no_grad():
                target = new.weight if isinstance(new, nn.PReLU) else new.a
                target.copy_(a.reshape(target.shape).to(target))
            method = "closed form"
        elif isinstance(new, ABActivation) and new.base in ("relu", "sigmoid"):
            a, b = _fit_ab(new, xd, gd)
            with torch.no_grad():
                new.a.copy_(a.reshape(new.a.shape).to(new.a))
                new.b.copy_(b.reshape(new.b.shape).to(new.b))
            method = "least squares (closed-form a over candidate b, then LBFGS)"
        elif is_trainable_activation(new):
            _fit_generic(new, _as_input(x, site), _as_input(g, site))
            method = "least squares (LBFGS)"
    was_new = new.training
    new.eval()
    with torch.no_grad():
        f = new(_as_input(x, site)).reshape(x.shape)
    new.train(was_new)
    return SiteFit(name, relative_error(f, g), samples, method)


def fit_sites(
    model: nn.Module,
    pairs: Sequence[tuple[list[str], nn.Module, nn.Module]],
    batches: Iterable[torch.Tensor],
    set_module,
) -> list[SiteFit]:
    """Fit every new activation of ``pairs`` to the old one it replaced, on ``batches``.

    The old modules are put back for one pass over ``batches`` (so every site sees the inputs of
    the *original* network), their inputs recorded, the new ones put back and fitted.

    Args:
        model: the swapped network.
        pairs: (qualified names, old module, new module) of every replaced site.
        batches: a few training input batches (on the model's device).
        set_module: ``set_module(model, name, module)`` (the swap's surgery).
    """
    for names, old, _new in pairs:
        for n in names:
            set_module(model, n, old)
    try:
        sites = {names[0]: (old, site_shape_of(new)) for names, old, new in pairs}
        recorded = record_inputs(model, sites, batches)
    finally:
        for names, _old, new in pairs:
            for n in names:
                set_module(model, n, new)
    fits = []
    for names, old, new in pairs:
        x = recorded.get(names[0])
        if x is None:
            fits.append(SiteFit(names[0], None, 0, "not fitted: the site saw no input"))
            continue
        fits.append(fit_activation(names[0], new, old, x))
    return fits
