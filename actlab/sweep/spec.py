"""Sweep files: schema, validation, grid expansion and the config hash that identifies a run.

A sweep file (YAML) names base config(s), grid axes, seeds, an MLflow experiment and, optionally,
the paper's reference numbers::

    experiment: paper-003-wdbc
    base: [../../quickstart.yaml]            # paths relative to the sweep file
    seeds: [0, 1, 2]                         # -> seed_everything and data.init_args.seed
    grid:                                    # a mapping, or a list of them (a union of grids,
                                             # each may set its own base, seeds and fixed)
      model.init_args.head: [softmax, relu]  # a plain axis: a config key and its values
      regularisation:                        # a labelled axis: each value sets several keys
        - {label: bn+dropout, data.init_args.augment: false}
        - {label: bn+dropout+aug, data.init_args.augment: true}
    fixed: {trainer.max_epochs: 32}
    smoke: {overrides: {trainer.max_epochs: 1}, seeds: [0], only: {head: [softmax]}}
    report: {rows: head, columns: dataset, metric: test/acc, scale: 100, baseline: softmax}
    references: {softmax: {wdbc: 92.40}, relu: {wdbc: 90.64}}

Every run's config is the base files deep-merged, then ``fixed``, the axis values, the smoke
overrides (``--smoke``), command-line ``--set`` overrides and the seed set as the CLI sets
``--key VALUE`` (:func:`set_key`: a mapping replaces a mapping). Its *key*
(:attr:`RunSpec.key`, the name of its config and log files) is the SHA-256 of that merged mapping
in canonical JSON (sorted keys). Its *config hash* (the tag ``config_hash``, what a report cell
is) is :func:`resolved_hash` of the config ``actlab fit`` resolves from it
(:mod:`actlab.sweep.resolve`): code defaults and included files count, the seed and fold
(:data:`REPLICATE_KEYS`) and what only names the run (:data:`NOT_CONFIG_KEYS`) do not.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actlab import yamlfile
from actlab.config_keys import flat_config
from actlab.errors import ActlabError, unknown_name_message
from actlab.tracking.naming import description_from, header_comment

#: Keys a sweep file may have at its top level.
SWEEP_KEYS = (
    "experiment",
    "base",
    "seeds",
    "seed_keys",
    "grid",
    "fixed",
    "smoke",
    "report",
    "references",
)
#: Keys of the ``smoke`` section.
SMOKE_KEYS = ("overrides", "seeds", "only")
#: Keys of the ``report`` section.
REPORT_KEYS = ("rows", "columns", "metric", "mode", "scale", "error", "digits", "baseline", "alpha")
#: Config keys the seed is written to unless ``seed_keys`` says otherwise.
DEFAULT_SEED_KEYS = ("seed_everything", "data.init_args.seed")
#: Keys that address a class's own fields rather than its ``init_args``.
_CLASS_KEYS = ("class_path", "init_args", "dict_kwargs")


def _fail(path: Path | str, message: str) -> ActlabError:
    return ActlabError(f"{path}: {message}")


def load_yaml(path: Path) -> Any:
    """Read a YAML file; a missing or malformed file is an :class:`ActlabError`."""
    try:
        with open(path) as fh:
            return yamlfile.safe_load(fh)
    except FileNotFoundError:
        raise ActlabError(f"file not found: {path}") from None
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        raise ActlabError(f"{path}: invalid YAML: {first}") from None


#: File name endings of a config file a config may include.
INCLUDE_SUFFIXES = (".yaml", ".yml")


def resolve_includes(config: Any, path: Path, depth: int = 0) -> Any:
    """``config`` (read from ``path``) with every included file read in: a value naming a YAML
    file relative to the including file (``data: wdbc_data.yaml``), as jsonargparse resolves it
    for ``actlab fit --config``, becomes that file's mapping (its own includes read in too).

    A sweep writes each run's config elsewhere (its workdir), where a relative name would name
    nothing; read in, the included content is part of the run's config and of its config hash.
    """
    if depth > 20:
        raise _fail(path, "config files include each other in a loop (more than 20 levels)")
    if isinstance(config, dict):
        return {k: resolve_includes(v, path, depth) for k, v in config.items()}
    if isinstance(config, list):
        return [resolve_includes(v, path, depth) for v in config]
    if isinstance(config, str) and config.endswith(INCLUDE_SUFFIXES) and "\n" not in config:
        included = (path.parent / config).resolve()
        if included.is_file():
            content = load_yaml(included)
            if isinstance(content, dict):
                return resolve_includes(content, included, depth + 1)
    return config


def set_key(config: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` in a nested config; inside a ``class_path`` mapping go via ``init_args``.

    ``model.head`` and ``model.init_args.head`` address the same value, as on the command line.
    A mapping value replaces the current value, as ``--key '{...}'`` does on the command line
    (``fixed: {model.init_args.backbone_kwargs: {drop_rate: 0.5}}`` leaves no other
    ``backbone_kwargs``); only a class's mapping (with a ``class_path``) given the same class,
    or no ``class_path``, merges into its ``init_args``, as jsonargparse keeps them.
    """
    parts = key.split(".")
    node = config
    for i, part in enumerate(parts[:-1]):
        if "class_path" in node and part not in _CLASS_KEYS and i > 0:
            node = node.setdefault("init_args", {})
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    last = parts[-1]
    if "class_path" in node and last not in _CLASS_KEYS and len(parts) > 1:
        node = node.setdefault("init_args", {})
    current = node.get(last)
    same_class = (
        isinstance(value, dict)
        and isinstance(current, dict)
        and "class_path" in current
        and value.get("class_path", current["class_path"]) == current["class_path"]
    )
    if same_class:
        merge_value(node, last, value)
    else:
        node[last] = copy.deepcopy(value)


def merge_value(node: dict[str, Any], key: str, value: Any) -> None:
    """``node[key] = value``, deep-merging mappings (a new ``class_path`` replaces the mapping)."""
    current = node.get(key)
    if isinstance(value, dict) and isinstance(current, dict):
        new_class = value.get("class_path")
        if new_class is not None and new_class != current.get("class_path"):
            node[key] = copy.deepcopy(value)
            return
        for sub_key, sub_value in value.items():
            merge_value(current, sub_key, sub_value)
        return
    node[key] = copy.deepcopy(value)


def deep_merge(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``other`` merged in (see :func:`merge_value`)."""
    merged = copy.deepcopy(base)
    for key, value in other.items():
        merge_value(merged, key, value)
    return merged


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of ``config`` as canonical JSON."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: Flat keys (``init_args`` levels dropped) of a resolved config that make one *replicate* of a
#: configuration: runs differing only here are the seeds and folds of one report cell.
REPLICATE_KEYS = ("seed_everything", "data.seed", "data.fold")
#: Flat keys (``fnmatch`` patterns) of a resolved config that only name or record a run, or say
#: where a config came from: not part of its configuration.
NOT_CONFIG_KEYS = ("config", "subcommand", "ckpt_path", "trainer.logger", "trainer.logger.*")


def _canonical_number(value: Any) -> Any:
    """``2.0`` -> ``2`` (other values as they are), recursively in lists and mappings.

    jsonargparse resolves ``int | float`` options (``trainer.limit_train_batches: 2``) to ``2``
    or ``2.0`` depending on the process: ``typing`` caches ``Optional[Union[int, float]]`` and
    ``Optional[Union[float, int]]`` as one object, whichever was created first, so the order in
    which the union tries its types depends on what the process imported before. The sweep's
    parse (a child process) and the fit's (the run's process) must give one hash, so an integral
    float counts as its int here. The price: ``limit_train_batches: 1`` (one batch) and ``1.0``
    (all of them) share a hash.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical_number(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical_number(v) for k, v in value.items()}
    return value


def resolved_hash(resolved: dict[str, Any], continued_from: dict[str, Any] | None = None) -> str:
    """The *config hash* of a run from the config ``actlab fit`` resolved: :func:`config_hash`
    of its flat keys without :data:`REPLICATE_KEYS` and :data:`NOT_CONFIG_KEYS`.

    ``continued_from`` (``{"config_hash": ..., "epoch": ...}`` of the checkpoint a FINISHED run
    was continued from) makes a continued run its own configuration: the same config trained
    from scratch is another experiment.
    """
    flat = {
        k: _canonical_number(v)
        for k, v in flat_config(resolved).items()
        if k not in REPLICATE_KEYS and not any(fnmatch.fnmatchcase(k, p) for p in NOT_CONFIG_KEYS)
    }
    if continued_from is not None:
        flat = {"config": flat, "continued_from": continued_from}
    return config_hash(flat)


def run_identity(tags: dict[str, str], params: dict[str, str]) -> tuple[str, ...] | None:
    """A logged run's config hash (tag) and replicate (:data:`REPLICATE_KEYS` params): two runs
    with one identity are the same run done twice. ``None`` without a config hash."""
    if "config_hash" not in tags:
        return None
    if not any(k in params for k in REPLICATE_KEYS):  # params not logged: the seed tag says
        return (tags["config_hash"], "tags", str(tags.get("seed")), str(tags.get("fold")))
    return (tags["config_hash"], *(str(params.get(k)) for k in REPLICATE_KEYS))


def replicate_of(resolved: dict[str, Any]) -> dict[str, str]:
    """The :data:`REPLICATE_KEYS` of a resolved config, as MLflow stores them as params."""
    flat = flat_config(resolved)
    return {k: str(flat.get(k)) for k in REPLICATE_KEYS}


def value_label(value: Any) -> str:
    """The label a plain axis value gets in tags and report tables."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict) and "class_path" in value:
        return str(value["class_path"]).rsplit(".", 1)[-1]
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class AxisValue:
    """One value of a grid axis: its label and the config keys it sets."""

    label: str
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Axis:
    """A grid axis: its name (the tag ``axis.<name>``) and its values."""

    name: str
    values: tuple[AxisValue, ...]

    @property
    def labels(self) -> list[str]:
        return [v.label for v in self.values]


@dataclass(frozen=True)
class GridPart:
    """One cross-product of a sweep; a part may replace the sweep's ``base`` and ``seeds`` and
    add ``fixed`` keys (``grid: [{base: [...], seeds: [...], fixed: {...}, <axes>}, ...]``)."""

    axes: list[Axis]
    base: list[Path] | None = None
    seeds: list[int | None] | None = None
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportSpec:
    """Defaults of ``actlab report`` for a sweep.

    Args:
        rows: fields (axis names, tags or params) whose values label the rows.
        columns: fields whose values label the columns (joined with ``/``).
        metric: the MLflow metric shown in the cells (its last value).
        mode: ``max`` or ``min`` marks the best cell per column; ``None`` guesses from the name.
        scale: factor applied to the metric before display (100 for percent).
        error: report ``1 - metric`` (error rate from accuracy) before scaling.
        digits: decimals shown.
        baseline: the row label every other cell of its column is tested against (``None``:
            against the column's best mean).
        alpha: significance level of the tests (Holm-corrected) and ``1 - alpha`` the
            confidence of the intervals.
    """

    rows: tuple[str, ...] = ("activation",)
    columns: tuple[str, ...] = ("backbone", "dataset")
    metric: str = "test/acc"
    mode: str | None = None
    scale: float = 1.0
    error: bool = False
    digits: int = 2
    baseline: str | None = None
    alpha: float = 0.05


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its labels, seed, merged config and key (the hash of that config,
    seed included: the name of its config and log files)."""

    index: int
    labels: dict[str, str]
    seed: int | None
    config: dict[str, Any]
    key: str
    #: The run's MLflow description: the header comment of its base config (or sweep file).
    description: str = ""

    @property
    def name(self) -> str:
        parts = [*self.labels.values()] + ([f"seed{self.seed}"] if self.seed is not None else [])
        return " ".join(parts) or f"run{self.index}"

    def tags(self, sweep: str) -> dict[str, str]:
        """Tags of the run's MLflow run: sweep, seed and one ``axis.<name>`` per axis (the fit adds
        ``config_hash``, computed from the config it parsed)."""
        tags = {"sweep": sweep}
        if self.seed is not None:
            tags["seed"] = str(self.seed)
        tags.update({f"axis.{name}": label for name, label in self.labels.items()})
        return tags


@dataclass
class SweepSpec:
    """A parsed sweep file. Build with :meth:`load`; expand with :meth:`runs`."""

    path: Path
    experiment: str
    base: list[Path]
    seeds: list[int | None]
    seed_keys: list[str]
    parts: list[GridPart]
    fixed: dict[str, Any] = field(default_factory=dict)
    smoke: dict[str, Any] = field(default_factory=dict)
    report: ReportSpec = field(default_factory=ReportSpec)
    references: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> SweepSpec:
        """Read and validate a sweep file; problems raise :class:`ActlabError` in one line."""
        path = Path(path)
        raw = load_yaml(path)
        if not isinstance(raw, dict):
            raise _fail(path, f"a sweep file is a mapping with keys {', '.join(SWEEP_KEYS)}")
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: Path) -> SweepSpec:
        for key in raw:
            if key not in SWEEP_KEYS:
                raise _fail(path, unknown_name_message("sweep key", str(key), list(SWEEP_KEYS)))
        experiment = raw.get("experiment")
        if not isinstance(experiment, str) or not experiment:
            raise _fail(path, f"'experiment' must be a non-empty name, got {experiment!r}")
        base_raw = raw.get("base")
        if isinstance(base_raw, str):
            base_raw = [base_raw]
        if not isinstance(base_raw, list) or not base_raw:
            raise _fail(path, f"'base' must be a config file or a list of them, got {base_raw!r}")
        base = [(path.parent / str(b)).resolve() for b in base_raw]
        for b in base:
            if not b.is_file():
                raise _fail(path, f"base config not found: {b}")
        seeds = _seeds(raw.get("seeds"), path, "seeds")
        seed_keys = raw.get("seed_keys", list(DEFAULT_SEED_KEYS))
        if not isinstance(seed_keys, list) or not all(isinstance(k, str) for k in seed_keys):
            raise _fail(path, f"'seed_keys' must be a list of config keys, got {seed_keys!r}")
        grid = raw.get("grid") or {}
        parts = grid if isinstance(grid, list) else [grid]
        if not parts or not all(isinstance(part, dict) for part in parts):
            msg = f"'grid' must map axis names to lists of values, or list such maps; got {grid!r}"
            raise _fail(path, msg)
        grid_parts = [_part(part, path) for part in parts]
        fixed = _mapping(raw.get("fixed"), path, "fixed")
        smoke = _mapping(raw.get("smoke"), path, "smoke")
        for key in smoke:
            if key not in SMOKE_KEYS:
                raise _fail(path, unknown_name_message("smoke key", str(key), list(SMOKE_KEYS)))
        _mapping(smoke.get("overrides"), path, "smoke.overrides")
        if "seeds" in smoke:
            _seeds(smoke["seeds"], path, "smoke.seeds")
        names = _labels_by_axis([part.axes for part in grid_parts])
        for axis_name, labels in _mapping(smoke.get("only"), path, "smoke.only").items():
            if axis_name not in names:
                msg = unknown_name_message("axis in smoke.only", axis_name, list(names))
                raise _fail(path, msg)
            for label in labels if isinstance(labels, list) else [labels]:
                if str(label) not in names[axis_name]:
                    msg = unknown_name_message(
                        f"label of axis {axis_name!r}", str(label), names[axis_name]
                    )
                    raise _fail(path, msg)
        report = _report(_mapping(raw.get("report"), path, "report"), path, grid_parts)
        references = _references(raw.get("references"), path)
        return cls(
            path=path,
            experiment=experiment,
            base=base,
            seeds=seeds,
            seed_keys=seed_keys,
            parts=grid_parts,
            fixed=fixed,
            smoke=smoke,
            report=report,
            references=references,
        )

    def experiment_name(self, smoke: bool = False) -> str:
        """The MLflow experiment of the sweep (``<experiment>-smoke`` for the smoke variant)."""
        return f"{self.experiment}-smoke" if smoke else self.experiment

    def base_config(self, files: list[Path] | None = None) -> dict[str, Any]:
        """The base files (default: the sweep's ``base``) merged in order, the files they
        include read in (:func:`resolve_includes`)."""
        merged: dict[str, Any] = {}
        for base in self.base if files is None else files:
            content = load_yaml(base) or {}
            if not isinstance(content, dict):
                raise _fail(base, "a config file must be a mapping")
            merged = deep_merge(merged, resolve_includes(content, base))
        return merged

    def runs(self, smoke: bool = False, overrides: dict[str, Any] | None = None) -> list[RunSpec]:
        """The cross-product of the axes and the seeds, in file order (seeds innermost).

        Args:
            smoke: apply the ``smoke`` section (its overrides, seeds and ``only`` filter).
            overrides: more ``key: value`` pairs applied last (``actlab sweep --set``).
        """
        only: dict[str, list[str]] = {}
        if smoke:
            for name, labels in (self.smoke.get("only") or {}).items():
                only[name] = [str(v) for v in (labels if isinstance(labels, list) else [labels])]
        runs: list[RunSpec] = []
        for part in self.parts:
            base = self.base_config(part.base)
            for key, value in {**self.fixed, **part.fixed}.items():
                set_key(base, key, value)
            seeds = part.seeds if part.seeds is not None else self.seeds
            if smoke and "seeds" in self.smoke:
                seeds = _seeds(self.smoke["seeds"], self.path, "smoke.seeds")
            about = description_from(part.base or self.base) or header_comment(self.path)
            self._expand(part.axes, base, seeds, only, smoke, overrides or {}, runs, about)
        return runs

    def select(self, runs: list[RunSpec], where: dict[str, list[str]]) -> list[RunSpec]:
        """The runs whose label of every axis in ``where`` is one of the labels given for it.

        ``where`` maps an axis name (or ``seed``) to labels; several labels of one axis are
        alternatives, several axes must all match (``actlab sweep --where AXIS=LABEL``). A run
        without that axis (another grid part) does not match.

        Raises:
            ActlabError: an unknown axis, a label the axis does not have, or no run matching,
                in one line that lists the valid names.
        """
        names = _labels_by_axis(self.grids)
        names["seed"] = [str(r.seed) for r in runs if r.seed is not None]
        for axis, labels in where.items():
            if axis not in names:
                raise _fail(self.path, unknown_name_message("axis in --where", axis, list(names)))
            valid = list(dict.fromkeys(names[axis]))
            for label in labels:
                if label not in valid:
                    msg = unknown_name_message(f"label of axis {axis!r} in --where", label, valid)
                    raise _fail(self.path, msg)

        def label(run: RunSpec, axis: str) -> str | None:
            return (
                (str(run.seed) if run.seed is not None else None)
                if axis == "seed"
                else run.labels.get(axis)
            )

        chosen = [r for r in runs if all(label(r, a) in labels for a, labels in where.items())]
        if not chosen:
            shown = " ".join(f"{a}={'|'.join(ls)}" for a, ls in where.items())
            msg = f"no run matches --where {shown}: no grid part has all of these axes and labels"
            raise _fail(self.path, msg)
        return chosen

    @property
    def grids(self) -> list[list[Axis]]:
        """The axes of each grid part (read from :attr:`parts`, the one copy of the grid)."""
        return [part.axes for part in self.parts]

    @property
    def axes(self) -> list[Axis]:
        """Every axis of every grid part (the first axis of each name)."""
        seen: dict[str, Axis] = {}
        for part in self.parts:
            for axis in part.axes:
                seen.setdefault(axis.name, axis)
        return list(seen.values())

    def _expand(
        self,
        axes: list[Axis],
        base: dict[str, Any],
        seeds: list[int | None],
        only: dict[str, list[str]],
        smoke: bool,
        overrides: dict[str, Any],
        runs: list[RunSpec],
        description: str = "",
    ) -> None:
        """Append the runs of one grid part (cross-product of ``axes`` and ``seeds``) to ``runs``."""
        axis_values = [
            [v for v in axis.values if axis.name not in only or v.label in only[axis.name]]
            for axis in axes
        ]
        for combo in itertools.product(*axis_values):
            for seed in seeds:
                config = copy.deepcopy(base)
                for value in combo:
                    for key, item in value.overrides.items():
                        set_key(config, key, item)
                if smoke:
                    for key, item in (self.smoke.get("overrides") or {}).items():
                        set_key(config, key, item)
                for key, item in overrides.items():
                    set_key(config, key, item)
                if seed is not None:
                    for key in self.seed_keys:
                        set_key(config, key, seed)
                labels = {axis.name: value.label for axis, value in zip(axes, combo, strict=True)}
                run = RunSpec(len(runs), labels, seed, config, config_hash(config), description)
                runs.append(run)


def _labels_by_axis(grids: list[list[Axis]]) -> dict[str, list[str]]:
    """Every axis name of every grid part and the labels it takes there, in file order."""
    names: dict[str, list[str]] = {}
    for axes in grids:
        for axis in axes:
            names.setdefault(axis.name, []).extend(axis.labels)
    return names


def parse_where(items: list[str], path: Path | str) -> dict[str, list[str]]:
    """``["section=4.2", "activation=elu", "activation=prelu"]`` -> ``{axis: [labels]}``.

    The ``FIELD=VALUE`` syntax of ``actlab report --where``; the value is the label as written
    (not parsed as YAML, so ``4.10`` stays ``4.10``), and repeating an axis adds alternatives.
    """
    where: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise _fail(path, f"--where takes AXIS=LABEL, got {item!r}")
        where.setdefault(key.strip(), []).append(value.strip())
    return where


def _seeds(raw: Any, path: Path, key: str) -> list[int | None]:
    if raw is None:
        return [None]
    if isinstance(raw, int) and not isinstance(raw, bool):
        return [raw]
    if (
        isinstance(raw, list)
        and raw
        and all(isinstance(s, int) and not isinstance(s, bool) for s in raw)
    ):
        return list(raw)
    raise _fail(path, f"'{key}' must be an integer or a non-empty list of integers, got {raw!r}")


def _mapping(raw: Any, path: Path, key: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, f"'{key}' must be a mapping, got {raw!r}")
    return raw


def _axis(name: str, values: Any, path: Path) -> Axis:
    if not isinstance(values, list) or not values:
        raise _fail(path, f"axis {name!r} must be a non-empty list of values, got {values!r}")
    parsed: list[AxisValue] = []
    for value in values:
        if isinstance(value, dict) and "label" in value:
            overrides = {str(k): v for k, v in value.items() if k != "label"}
            if not overrides:
                raise _fail(path, f"axis {name!r}: value {value['label']!r} sets no config key")
            parsed.append(AxisValue(str(value["label"]), overrides))
        elif "." in name or name == "seed_everything":
            parsed.append(AxisValue(value_label(value), {name: value}))
        else:
            msg = (
                f"axis {name!r} is not a dotted config key, so each value must be a mapping "
                f"with a 'label' and the keys it sets; got {value!r}"
            )
            raise _fail(path, msg)
    labels = [v.label for v in parsed]
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise _fail(path, f"axis {name!r} has repeated labels {duplicates}")
    short = name.rsplit(".", 1)[-1] if "." in name else name
    return Axis(short, tuple(parsed))


#: Keys of a grid part that are not axes.
PART_KEYS = ("base", "seeds", "fixed")


def _part(raw: dict[str, Any], path: Path) -> GridPart:
    base = None
    if "base" in raw:
        files = raw["base"] if isinstance(raw["base"], list) else [raw["base"]]
        base = [(path.parent / str(b)).resolve() for b in files]
        for b in base:
            if not b.is_file():
                raise _fail(path, f"base config not found: {b}")
    seeds = _seeds(raw["seeds"], path, "grid.seeds") if "seeds" in raw else None
    fixed = _mapping(raw.get("fixed"), path, "grid.fixed")
    axes = [_axis(str(n), v, path) for n, v in raw.items() if n not in PART_KEYS]
    return GridPart(axes, base, seeds, fixed)


def _fields(raw: Any, path: Path, key: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if isinstance(raw, list) and all(isinstance(r, str) for r in raw):
        return tuple(raw)
    raise _fail(path, f"'report.{key}' must be a field name or a list of them, got {raw!r}")


def _report(raw: dict[str, Any], path: Path, parts: list[GridPart]) -> ReportSpec:
    for key in raw:
        if key not in REPORT_KEYS:
            raise _fail(path, unknown_name_message("report key", str(key), list(REPORT_KEYS)))
    kwargs: dict[str, Any] = {}
    for key in ("rows", "columns"):
        if key in raw:
            kwargs[key] = _fields(raw[key], path, key)
    if "metric" in raw:
        kwargs["metric"] = str(raw["metric"])
    if raw.get("mode") not in (None, "max", "min"):
        raise _fail(path, f"'report.mode' must be max or min, got {raw['mode']!r}")
    for key, kind in (("mode", str), ("scale", float), ("error", bool), ("digits", int)):
        if raw.get(key) is not None:
            kwargs[key] = kind(raw[key])
    alpha = raw.get("alpha")
    if alpha is not None:
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise _fail(path, f"'report.alpha' must be a number between 0 and 1, got {alpha!r}")
        kwargs["alpha"] = float(alpha)
    if raw.get("baseline") is not None:
        baseline = value_label(raw["baseline"])
        rows = kwargs.get("rows", ReportSpec.rows)
        labels = row_labels(parts, rows)
        if labels is not None and baseline not in labels:
            msg = unknown_name_message(
                f"report.baseline (a label of {'/'.join(rows)})", baseline, labels
            )
            raise _fail(path, msg)
        kwargs["baseline"] = baseline
    return ReportSpec(**kwargs)


def row_labels(parts: list[GridPart], rows: tuple[str, ...]) -> list[str] | None:
    """The report's row labels the grid makes (axis labels joined with ``/``), or ``None`` when
    a row field is not an axis of every part (a tag or param the sweep cannot know)."""
    labels: dict[str, None] = {}
    for part in parts:
        axes = {axis.name: axis.labels for axis in part.axes}
        if any(name not in axes for name in rows):
            return None
        for combo in itertools.product(*(axes[name] for name in rows)):
            labels.setdefault("/".join(combo))
    return list(labels)


def _references(raw: Any, path: Path) -> dict[str, dict[str, float]]:
    """``{row label: {column label: number}}``; ``null`` entries (not reported) are dropped."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, f"'references' must map row labels to {{column: number}}, got {raw!r}")
    refs: dict[str, dict[str, float]] = {}
    for row, cols in raw.items():
        if not isinstance(cols, dict):
            raise _fail(path, f"references of row {row!r} must map column labels to numbers")
        for col, number in cols.items():
            if number is None:
                continue
            if not isinstance(number, int | float) or isinstance(number, bool):
                raise _fail(path, f"reference {row}/{col} must be a number, got {number!r}")
            refs.setdefault(str(row), {})[str(col)] = float(number)
    return refs
