"""One flattening of a resolved config for the fit hash, a run's params and a sweep's hash."""

from __future__ import annotations

from actlab.config_keys import flat_config

NESTED = {
    "config": ["a.yaml"],
    "seed_everything": 3,
    "model": {
        "class_path": "actlab.tasks.ClassificationModule",
        "init_args": {"backbone": "mlp", "backbone_kwargs": {}, "optimizer": {"lr": 0.1}},
    },
    "data": {
        "class_path": "actlab.data.WDBCDataModule",
        "init_args": {"batch_size": 16},
        "__path__": "/somewhere/data.yaml",  # jsonargparse: `--data data.yaml`
    },
}


def test_init_args_and_jsonargparse_paths_are_dropped_an_empty_mapping_stays() -> None:
    assert flat_config(NESTED) == {
        "config": ["a.yaml"],
        "seed_everything": 3,
        "model.class_path": "actlab.tasks.ClassificationModule",
        "model.backbone": "mlp",
        "model.backbone_kwargs": {},
        "model.optimizer.lr": 0.1,
        "data.class_path": "actlab.data.WDBCDataModule",
        "data.batch_size": 16,
    }


def test_the_fit_hash_and_the_params_read_the_same_keys() -> None:
    from actlab.fit.checkpoints import fit_config
    from actlab.tracking.config import run_params

    fit = fit_config(flat_config(NESTED))
    assert "config" not in fit  # the files it was read from: what they hold is in the rest
    params = run_params(NESTED)
    assert not [k for k in params if "__path__" in k]  # was logged as `data.__path__`
    assert set(params) == set(fit)
