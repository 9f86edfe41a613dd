"""Shared base for actlab's data modules: in-memory tensors, seeded splits and fast batch loaders."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from actlab import compat
from actlab.errors import ActlabError


class TensorDataset(Dataset):
    """Samples held as two tensors; ``__getitems__`` fetches a whole batch with one index op.

    PyTorch's fetcher calls ``__getitems__`` with the sampler's list of indices, so a batch costs
    one gather instead of ``batch_size`` item reads plus a collate. Works with any sampler,
    Lightning's ``DistributedSampler`` included.
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        if len(inputs) != len(targets):
            msg = f"inputs ({len(inputs)}) and targets ({len(targets)}) differ in length"
            raise ValueError(msg)
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.targets[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long, device=self.inputs.device)
        return self.inputs[index], self.targets[index]

    def to(self, device: torch.device | str) -> TensorDataset:
        """Move both tensors to ``device`` (in place) and return ``self``."""
        self.inputs = self.inputs.to(device)
        self.targets = self.targets.to(device)
        return self


def collate_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate of the base's loaders: the datasets' ``__getitems__`` return a stacked batch."""
    return batch


@dataclass
class Splits:
    """Train/validation/test tensors of one dataset (``val`` may be carved from train later)."""

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor] | None = None


def stratified_split(
    targets: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (rest, held-out) with ``fraction`` of every class held out, seeded.

    Deterministic for a given ``seed``: the same call always returns the same indices.
    """
    if not 0.0 < fraction < 1.0:
        msg = f"split fraction must be in (0, 1), got {fraction}"
        raise ActlabError(msg)
    generator = torch.Generator().manual_seed(seed)
    rest, held = [], []
    for cls in torch.unique(targets):
        idx = torch.nonzero(targets == cls, as_tuple=True)[0]
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n_held = int(round(len(idx) * fraction))
        n_held = min(max(n_held, 1), len(idx) - 1) if len(idx) > 1 else 0
        held.append(idx[:n_held])
        rest.append(idx[n_held:])
    return torch.sort(torch.cat(rest)).values, torch.sort(torch.cat(held)).values


def kfold_split(
    targets: torch.Tensor, folds: int, fold: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified k-fold: return (train, held-out) indices of fold ``fold`` of ``folds``, seeded.

    Every class is shuffled with ``seed`` and dealt round-robin onto the folds, so each fold holds
    ``1/folds`` of every class (within one sample) and the folds partition the samples. The same
    ``(folds, seed)`` always gives the same partition, whichever ``fold`` is asked for.
    """
    if folds < 2 or not 0 <= fold < folds:
        msg = f"need folds >= 2 and 0 <= fold < folds, got folds={folds}, fold={fold}"
        raise ActlabError(msg)
    generator = torch.Generator().manual_seed(seed)
    assignment = torch.empty(len(targets), dtype=torch.long)
    offset = 0
    for cls in torch.unique(targets):
        idx = torch.nonzero(targets == cls, as_tuple=True)[0]
        idx = idx[torch.randperm(len(idx), generator=generator)]
        # continue the deal where the previous class stopped, so fold sizes stay balanced
        assignment[idx] = (torch.arange(len(idx)) + offset) % folds
        offset = (offset + len(idx)) % folds
    held = torch.nonzero(assignment == fold, as_tuple=True)[0]
    rest = torch.nonzero(assignment != fold, as_tuple=True)[0]
    return rest, held


def balanced_subset(targets: torch.Tensor, samples_per_class: int, seed: int) -> torch.Tensor:
    """Indices of ``samples_per_class`` seeded random samples of every class (sorted).

    Raises:
        ActlabError: when a class has fewer samples than asked for.
    """
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in torch.unique(targets):
        idx = torch.nonzero(targets == cls, as_tuple=True)[0]
        if len(idx) < samples_per_class:
            msg = (
                f"samples_per_class={samples_per_class} exceeds class {int(cls)}, which has "
                f"{len(idx)} training samples; use samples_per_class <= {len(idx)}"
            )
            raise ActlabError(msg)
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:samples_per_class]])
    return torch.sort(torch.cat(chosen)).values


def fit_pca(x: torch.Tensor, n_components: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal axes of the rows of ``x`` (N x D): returns (mean (D,), components (D x n)).

    The covariance is eigen-decomposed in float64; each axis's sign is fixed so that its
    largest-magnitude loading is positive, which makes the projection deterministic.
    """
    n, d = x.shape
    if not 1 <= n_components <= min(n, d):
        msg = (
            f"pca_components={n_components} must be in [1, min(samples, features)] = "
            f"[1, {min(n, d)}] for the training split"
        )
        raise ActlabError(msg)
    mean = x.mean(dim=0)
    centred = x - mean
    cov = (centred.T @ centred).double() / max(n - 1, 1)
    _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
    components = vectors[:, -n_components:].flip(1)
    signs = torch.sign(components.gather(0, components.abs().argmax(0, keepdim=True)))
    components = (components * signs).to(x.dtype)
    return mean, components


class ActlabDataModule(LightningDataModule):
    """Base of every actlab data module.

    A subclass is its constants (``name``, ``class_names``, ``stored_shape``) and
    :meth:`load_splits`, plus an ``__init__`` that takes its own options and passes the rest on
    with ``super().__init__(**kwargs)``: the options below are documented here only, and
    LightningCLI (jsonargparse) follows ``**kwargs`` into this signature, so
    ``--data.init_args.<option>`` works and ``actlab fit --data.help <class>`` lists them on every
    subclass (:meth:`option_names` lists them in Python). The base carves a seeded, stratified
    validation split from the training part and serves all splits from memory (or from what
    :meth:`make_dataset` wraps). ``num_classes`` and ``input_shape`` are known at construction
    time, so the CLI links them into the model before any data is read.

    :meth:`setup` runs one pipeline, in this order: load the splits; pick the validation split
    (fold ``fold`` of ``folds`` if ``folds`` is set, else the test split if ``val_on_test``,
    else ``val_fraction`` of every class); draw ``samples_per_class`` from what is left for
    training; the subclass's :meth:`fit_preprocessing`; then ``flatten``, ``standardize``,
    ``pca_components`` and ``pca_reshape``, each fitted on the training split only.

    Args:
        batch_size: samples per training batch (evaluation uses the same).
        num_workers: loader worker processes; 0 loads in the main process (fastest in memory).
        val_fraction: part of the training split held out for validation, per class (seeded,
            stratified). 0 is an error unless ``val_on_test`` or ``folds`` says where
            validation runs instead.
        seed: seed of every split this module draws.
        samples_per_class: train on this many seeded samples of every class (002: 500 per
            digit); larger than a class's training samples is an error.
        folds: stratified k-fold cross-validation over the training split: fold ``fold`` is
            the validation split, the other ``folds - 1`` folds train, and the test split stays
            the dataset's own; overrides ``val_fraction``. This is our reading of 003's
            "10-fold stratified CV" (``folds: 10``, one run per ``fold`` in 0..9, CV accuracy =
            mean of the runs' ``val/acc``, test accuracy on the official test split).
        fold: which fold validates, ``0 <= fold < folds``.
        val_on_test: validate on the test split and train on the whole training split
            (``val_fraction`` is not used). Then ``val/*``, the best checkpoint and its
            ``test_best/*`` are chosen on the data ``test/*`` reports, so it is off by default
            and a run that uses it records ``data.val_on_test: true`` in its params. For papers
            that tracked the test set during training and report the final weights (004 §4.2,
            Fig. 13) or their best epoch on it (000).
        flatten: serve every sample as one feature vector (for MLPs).
        standardize: subtract the training mean and divide by the training std of every
            feature (003 standardises before PCA); images are flattened for it and reshaped
            back unless ``flatten`` or PCA is on.
        pca_components: project onto this many principal components of the training split
            (003: 256); implies ``flatten``.
        pca_reshape: reshape the PCA features into this sample shape (003's CNN: ``[1, 16,
            16]``); its product must equal ``pca_components``.
        on_device: keep the tensors on the trainer's device and serve batches from there
            (no loader workers, no host-to-device copies); on a CPU trainer nothing changes.
    """

    #: Short dataset name used in run names and tags.
    name: ClassVar[str] = "dataset"
    #: Class names in label order, for confusion-matrix axes.
    class_names: ClassVar[list[str]] = []
    #: Shape of one sample as the dataset stores it, before ``flatten``/PCA (images:
    #: ``(C, H, W)``); a class constant, or set in ``__init__`` where an option decides it.
    stored_shape: tuple[int, ...] = ()

    def __init__(
        self,
        *,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        samples_per_class: int | None = None,
        folds: int | None = None,
        fold: int = 0,
        val_on_test: bool = False,
        flatten: bool = False,
        standardize: bool = False,
        pca_components: int | None = None,
        pca_reshape: tuple[int, ...] | None = None,
        on_device: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size}"
            raise ActlabError(msg)
        if not 0.0 <= val_fraction < 1.0:
            msg = f"val_fraction must be in [0, 1), got {val_fraction}"
            raise ActlabError(msg)
        if samples_per_class is not None and samples_per_class < 1:
            msg = f"samples_per_class must be >= 1 or null, got {samples_per_class}"
            raise ActlabError(msg)
        if folds is not None and (folds < 2 or not 0 <= fold < folds):
            msg = f"fold must be in [0, folds) with folds >= 2; got folds={folds}, fold={fold}"
            raise ActlabError(msg)
        if folds is None and fold != 0:
            msg = f"fold={fold} is set but folds is null; set folds (e.g. folds: 10)"
            raise ActlabError(msg)
        if folds is not None and val_on_test:
            msg = (
                f"folds={folds} validates on fold {fold} but val_on_test=true asks for the "
                "test split; set one of them"
            )
            raise ActlabError(msg)
        if val_fraction == 0 and folds is None and not val_on_test:
            msg = (
                "val_fraction=0 leaves no validation split, and validating on the test split "
                "would choose val/* and the best checkpoint (test_best/*) on the data test/* "
                "reports; set val_fraction > 0 (e.g. 0.1), folds, or val_on_test: true to "
                "validate on the test split knowingly"
            )
            raise ActlabError(msg)
        if pca_components is not None and pca_components < 1:
            msg = f"pca_components must be >= 1 or null, got {pca_components}"
            raise ActlabError(msg)
        features = math.prod(self.stored_shape) if self.stored_shape else None
        if pca_components is not None and features is not None and pca_components > features:
            msg = (
                f"pca_components={pca_components} exceeds the {features} features of a "
                f"{self.name} sample {list(self.stored_shape)}"
            )
            raise ActlabError(msg)
        if pca_reshape is not None:
            pca_reshape = tuple(int(d) for d in pca_reshape)
            if pca_components is None:
                msg = f"pca_reshape={list(pca_reshape)} needs pca_components to be set"
                raise ActlabError(msg)
            if math.prod(pca_reshape) != pca_components:
                msg = (
                    f"pca_reshape={list(pca_reshape)} holds {math.prod(pca_reshape)} values but "
                    f"pca_components={pca_components}; their product must match"
                )
                raise ActlabError(msg)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.seed = seed
        self.samples_per_class = samples_per_class
        self.folds = folds
        self.fold = fold
        self.val_on_test = val_on_test
        self.flatten = flatten or pca_components is not None
        self.standardize = standardize
        self.pca_components = pca_components
        self.pca_reshape = pca_reshape
        self.on_device = on_device
        #: Fitted PCA (mean, components D x n), set by :meth:`setup` when ``pca_components``.
        self.pca: tuple[torch.Tensor, torch.Tensor] | None = None
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes (linked to ``model.num_classes``)."""
        return len(self.class_names)

    @classmethod
    def option_names(cls) -> list[str]:
        """Every ``__init__`` option of ``cls``, its own first, then each base's (through the MRO).

        ``inspect.signature(cls.__init__)`` stops at ``**kwargs``; this is the list
        LightningCLI accepts for ``--data.init_args.<option>``.
        """
        names: list[str] = []
        for klass in cls.__mro__:
            if not issubclass(klass, ActlabDataModule):
                break
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for param in inspect.signature(init).parameters.values():
                if param.name != "self" and param.kind not in (
                    param.VAR_KEYWORD,
                    param.VAR_POSITIONAL,
                ):
                    if param.name not in names:
                        names.append(param.name)
        return names

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample without the batch dimension (linked to the model).

        ``stored_shape`` after the options: PCA gives ``(pca_components,)`` or ``pca_reshape``,
        ``flatten`` gives ``(prod(stored_shape),)``.
        """
        if self.pca_components is not None:
            return self.pca_reshape or (self.pca_components,)
        if self.flatten:
            return (math.prod(self.stored_shape),)
        return tuple(self.stored_shape)

    def load_splits(self) -> Splits:
        """Read the dataset and return its splits as tensors (inputs float, targets long)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Load once, pick the splits, preprocess, and (``on_device``) move to the device."""
        if self.train_set is None:
            self._build_datasets()
        device = self._target_device()
        if device is not None:
            for dataset in (self.train_set, self.val_set, self.test_set):
                dataset.to(device)

    def _build_datasets(self) -> None:
        splits = self.load_splits()
        x_train, y_train = splits.train
        if self.folds is not None:
            rest, held = kfold_split(y_train, self.folds, self.fold, self.seed)
            splits.val = (x_train[held], y_train[held])
            x_train, y_train = x_train[rest], y_train[rest]
        elif self.val_on_test:
            splits.val = splits.test
        elif splits.val is None:
            rest, held = stratified_split(y_train, self.val_fraction, self.seed)
            splits.val = (x_train[held], y_train[held])
            x_train, y_train = x_train[rest], y_train[rest]
        if self.samples_per_class is not None:
            chosen = balanced_subset(y_train, self.samples_per_class, self.seed)
            x_train, y_train = x_train[chosen], y_train[chosen]
        x_train, x_val, x_test = self.fit_preprocessing(x_train, splits.val[0], splits.test[0])
        x_train, x_val, x_test = self._fit_features(x_train, x_val, x_test)
        self.train_set = self.make_dataset(x_train, y_train, train=True)
        self.val_set = self.make_dataset(x_val, splits.val[1], train=False)
        self.test_set = self.make_dataset(x_test, splits.test[1], train=False)

    def make_dataset(self, inputs: Any, targets: torch.Tensor, train: bool) -> Dataset:
        """The dataset serving one split: a :class:`TensorDataset` of in-memory inputs.

        A subclass whose :meth:`load_splits` returns another kind of inputs (any sequence that
        an index tensor can subscript, e.g. image files) wraps them here; ``train`` tells the
        training split from the evaluation ones.
        """
        return TensorDataset(inputs, targets)

    def _fit_features(
        self, x_train: torch.Tensor, x_val: torch.Tensor, x_test: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``flatten``, ``standardize``, PCA and ``pca_reshape``, fitted on ``x_train`` only."""
        if not (self.flatten or self.standardize):
            return x_train, x_val, x_test
        shape = x_train.shape[1:]
        xs = [x.reshape(len(x), -1) for x in (x_train, x_val, x_test)]
        if self.standardize:
            mean = xs[0].mean(dim=0)
            std = xs[0].std(dim=0).clamp_min(1e-8)
            xs = [(x - mean) / std for x in xs]
        if self.pca_components is not None:
            mean, components = fit_pca(xs[0], self.pca_components)
            self.pca = (mean, components)
            xs = [(x - mean) @ components for x in xs]
            if self.pca_reshape is not None:
                xs = [x.reshape(len(x), *self.pca_reshape) for x in xs]
        elif not self.flatten:
            xs = [x.reshape(len(x), *shape) for x in xs]
        return tuple(x.contiguous() for x in xs)  # type: ignore[return-value]

    def _target_device(self) -> torch.device | None:
        """The trainer's device when ``on_device`` and attached to a trainer, else None."""
        trainer = getattr(self, "trainer", None)
        if not self.on_device or trainer is None:
            return None
        return trainer.strategy.root_device

    def fit_preprocessing(
        self, x_train: torch.Tensor, x_val: torch.Tensor, x_test: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fit preprocessing on the training inputs only and apply it to every split."""
        return x_train, x_val, x_test

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            msg = f"{type(self).__name__}.setup() has not run"
            raise RuntimeError(msg)
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        # tensors on an accelerator are gathered in the main process: workers cannot share them
        inputs = getattr(dataset, "inputs", None)
        on_cpu = not isinstance(inputs, torch.Tensor) or inputs.device.type == "cpu"
        workers = self.num_workers if on_cpu else 0
        sampler = None
        trainer = getattr(self, "trainer", None)
        if not shuffle and trainer is not None and trainer.world_size > 1:
            # every sample evaluated once: torch's DistributedSampler (which Lightning would put
            # here) pads a split to a multiple of the ranks, counting samples twice
            sampler = compat.unrepeated_sampler(dataset, trainer.world_size, trainer.global_rank)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate_batch,
            generator=generator,
            persistent_workers=workers > 0,
            pin_memory=workers > 0 and torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)
