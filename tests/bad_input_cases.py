"""The catalogue of bad inputs that ``tests/test_bad_inputs.py`` runs (see its docstring for how
to add a case): ``{Q}`` is the quickstart config, ``{tmp}`` the test's folder, ``{ckpt}`` a real
``last.ckpt``."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.helpers import CONFIGS

QUICKSTART = str(CONFIGS / "quickstart.yaml")
SWEEP = str(CONFIGS / "showcase" / "wdbc_heads.yaml")
FIT = ("fit", "--config", "{Q}", "--trainer.enable_progress_bar", "false",
       "--trainer.enable_model_summary", "false", "--trainer.max_epochs", "1")  # fmt: skip
DIGITS = (*FIT, "--data", "actlab.data.DigitsDataModule")
MNIST = (*FIT, "--data", "actlab.data.MNISTDataModule", "--data.root", "{tmp}/mnist")
CIFAR = (*FIT, "--data", "actlab.data.CIFAR10DataModule", "--data.root", "{tmp}/cifar")
SMALL_CNN = ("--model.backbone", "small_cnn", "--model.backbone_kwargs", "{channels: [4, 8]}")
TEST = ("test", "--config", "{Q}", "--trainer.enable_progress_bar", "false")


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, what its error line must say, and its setting."""

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    code: int = 2
    data: str | None = None  # a fake dataset written first: "mnist" or "cifar10" (corrupted)
    store: bool = True  # start from an empty store (a copy of one made once)


def yaml_file(text: str) -> dict[str, str]:
    return {"bad.yaml": text}


# fmt: off
CASES = [
    # -- commands and their options --------------------------------------------------------------
    Case("unknown-command", ("fitt",), ("unknown command 'fitt'", "did you mean 'fit'", "valid: activations, configs, fit")),
    Case("unknown-command-typo", ("swep",), ("unknown command 'swep'", "'sweep'")),
    Case("sweep-no-file", ("sweep",), ("actlab sweep", "required: file")),
    Case("sweep-missing-file", ("sweep", "{tmp}/nope.yaml"), ("nope.yaml",)),
    Case("sweep-workers-zero", ("sweep", SWEEP, "--workers", "0"), ("--workers must be >= 1", "got 0")),
    Case("sweep-workers-text", ("sweep", SWEEP, "--workers", "x"), ("--workers", "invalid int value: 'x'")),
    Case("sweep-set-no-value", ("sweep", SWEEP, "--set", "novalue"), ("--set takes KEY=VALUE", "'novalue'")),
    Case("sweep-timeout-text", ("sweep", SWEEP, "--timeout", "soon"), ("--timeout", "invalid float value")),
    Case("sweep-unknown-option", ("sweep", SWEEP, "--wrokers", "2"), ("unrecognized arguments: --wrokers",)),
    Case("report-no-source", ("report",), ("actlab report", "required: source")),
    Case("report-bad-format", ("report", SWEEP, "--format", "xml"), ("--format", "invalid choice: 'xml'", "'markdown'")),
    Case("report-bad-mode", ("report", SWEEP, "--mode", "best"), ("--mode", "invalid choice: 'best'", "'max'")),
    Case("report-digits-text", ("report", SWEEP, "--digits", "x"), ("--digits", "invalid int value")),
    Case("report-scale-text", ("report", SWEEP, "--scale", "big"), ("--scale", "invalid float value")),
    Case("report-no-store", ("report", SWEEP), ("no MLflow store at", "mlflow.db"), store=False),
    Case("report-unknown-experiment", ("report", "nope-exp"), ("unknown experiment", "'nope-exp'", "valid:")),
    Case("report-alpha-text", ("report", SWEEP, "--alpha", "low"), ("--alpha", "invalid float value")),
    Case("report-sweep-bad-baseline", ("report", "{tmp}/bad.yaml"), ("bad.yaml", "unknown report.baseline", "'relux'", "did you mean 'relu'", "valid: relu, softmax"), files=yaml_file(f"experiment: x\nbase: {CONFIGS}/papers/003_dlrelu/wdbc.yaml\ngrid: {{model.init_args.head: [softmax, relu]}}\nreport: {{rows: head, baseline: relux}}\n")),
    Case("ui-port-too-big", ("ui", "--port", "99999"), ("invalid port '99999'", "1 to 65535")),
    Case("ui-port-negative", ("ui", "--port", "-1"), ("invalid port '-1'", "1 to 65535")),
    Case("ui-port-text", ("ui", "--port", "http"), ("invalid port 'http'", "1 to 65535")),
    Case("ui-port-in-use", ("ui", "--port", "{busy_port}"), ("port {busy_port} on 127.0.0.1 is in use", "--port")),
    Case("ui-bad-host", ("ui", "--host", "no-such-host.invalid", "--port", "{free_port}"), ("--host 'no-such-host.invalid'", "not an address")),
    Case("ui-unknown-option", ("ui", "--prot", "5000"), ("actlab ui", "unrecognized arguments: --prot")),
    Case("sync-unknown-option", ("sync", "--uri", "x"), ("actlab sync", "unrecognized arguments: --uri")),
    Case("fit-unknown-flag", (*FIT, "--no-such-flag"), ("no-such-flag",)),
    # -- config files ----------------------------------------------------------------------------
    Case("config-missing", ("fit", "--config", "{tmp}/missing.yaml"), ("missing.yaml", "no such file")),
    Case("config-empty", ("fit", "--config", "{tmp}/bad.yaml"), ("bad.yaml", "is empty", "trainer, model, data"), files=yaml_file("")),
    Case("config-list", ("fit", "--config", "{tmp}/bad.yaml"), ("bad.yaml", "must be a mapping", "got a list"), files=yaml_file("- 1\n- 2\n")),
    Case("config-scalar", ("fit", "--config", "{tmp}/bad.yaml"), ("bad.yaml", "must be a mapping", "got a str"), files=yaml_file("hello\n")),
    Case("config-binary", ("fit", "--config", "{tmp}/bad.yaml"), ("bad.yaml", "not a text file"), files={"bad.yaml": bytes(range(256)) * 4}),
    Case("config-latin1", ("fit", "--config", "{tmp}/bad.yaml"), ("bad.yaml", "UTF-8"), files={"bad.yaml": "trainer:\n  max_epochs: 1 # caf\xe9\n".encode("latin-1")}),
    Case("config-yaml-syntax", ("fit", "--config", "{tmp}/bad.yaml"), ("bad.yaml", "not valid YAML at line 3", "expected ',' or ']'"), files=yaml_file("trainer:\n  max_epochs: [1\n")),
    Case("config-tab-indent", ("fit", "--config", "{tmp}/bad.yaml"), ("bad.yaml", "not valid YAML"), files=yaml_file("trainer:\n\tmax_epochs: 1\n")),
    Case("config-is-folder", ("fit", "--config", "{tmp}"), ("is a folder",)),
    Case("config-unknown-top-key", ("fit", "--config", "{Q}", "--config", "{tmp}/bad.yaml"), ("unknown top-level key", "'trainr'", "did you mean 'trainer'"), files=yaml_file("trainr:\n  max_epochs: 1\n")),
    Case("config-unknown-trainer-key", ("fit", "--config", "{Q}", "--config", "{tmp}/bad.yaml"), ("unknown option 'trainer.max_epoch'", "did you mean 'trainer.max_epochs'"), files=yaml_file("trainer:\n  max_epoch: 3\n")),
    Case("config-unknown-model-key", ("fit", "--config", "{Q}", "--config", "{tmp}/bad.yaml"), ("unknown option of model (ClassificationModule) 'backbon'", "did you mean 'backbone'"), files=yaml_file("model:\n  init_args:\n    backbon: mlp\n")),
    Case("config-unknown-data-key", ("fit", "--config", "{Q}", "--config", "{tmp}/bad.yaml"), ("unknown option of data (WDBCDataModule) 'batchsize'", "did you mean 'batch_size'"), files=yaml_file("data:\n  init_args:\n    batchsize: 3\n")),
    Case("config-nested-file-unknown-key", ("fit", "--config", "{Q}", "--config", "{tmp}/sub/bad.yaml"), ("unknown option of data (DigitsDataModule) 'batchsize'", "did you mean 'batch_size'"), files={"sub/bad.yaml": "data: data.yaml\n", "sub/data.yaml": "class_path: actlab.data.DigitsDataModule\ninit_args:\n  batchsize: 3\n"}),
    Case("config-nested-file-missing", ("fit", "--config", "{Q}", "--config", "{tmp}/bad.yaml"), ("nope.yaml",), files=yaml_file("data: nope.yaml\n")),
    Case("config-unknown-optimizer-key", ("fit", "--config", "{Q}", "--config", "{tmp}/bad.yaml"), ("'lrate'",), files=yaml_file("model:\n  init_args:\n    optimizer:\n      class_path: torch.optim.Adam\n      init_args: {lrate: 0.1}\n")),
    Case("config-trainer-not-mapping", ("fit", "--config", "{Q}", "--config", "{tmp}/bad.yaml"), ("trainer",), files=yaml_file("trainer: 3\n")),
    # -- values ----------------------------------------------------------------------------------
    Case("max-epochs-text", (*FIT, "--trainer.max_epochs", "many"), ("'trainer.max_epochs'", "'many'", "expected int")),
    Case("max-epochs-negative", (*FIT, "--trainer.max_epochs", "-5"), ("max_epochs", "-5", "non-negative integer or -1")),
    Case("max-epochs-float", (*FIT, "--trainer.max_epochs", "1.5"), ("'trainer.max_epochs'", "'1.5'", "int")),
    Case("lr-nan", (*FIT, "--model.optimizer.lr", ".nan"), ("optimizer", "Invalid learning rate: nan")),
    Case("lr-negative", (*FIT, "--model.optimizer.lr", "-1"), ("optimizer", "Invalid learning rate: -1")),
    Case("lr-text", (*FIT, "--model.optimizer.lr", "fast"), ("lr", "'fast'", "float")),
    Case("weight-decay-negative", (*FIT, "--model.optimizer.weight_decay", "-0.1"), ("optimizer", "weight_decay")),
    Case("head-literal", (*FIT, "--model.head", "sigmoid"), ("'model.head'", "'sigmoid'", "'softmax', 'relu'")),
    Case("weight-init-literal", (*FIT, "--model.weight_init", "glorot"), ("'model.weight_init'", "'glorot'", "'torch', 'keras', 'caffe_xavier', 'caffe_msra'")),
    # -- pretrained weights and fine-tuning (issue 24) ---------------------------------------------
    Case("weights-missing-file", (*FIT, "--model.weights", "{tmp}/nope.ckpt"), ("weights", "nope.ckpt", "no such file")),
    Case("weights-text-file", (*FIT, "--model.weights", "{tmp}/w.pth"), ("weights", "w.pth", "not a PyTorch file"), files={"w.pth": "hello\n"}),
    Case("weights-mismatched", (*FIT, "--model.weights", "{ckpt}", "--model.backbone_kwargs", "{hidden_sizes: [16]}"), ("do not fit model 'mlp'", "last.ckpt", "not in the model: features.4.weight", "features.1.weight (128, 30) in the file, (16, 30) here")),
    Case("weights-true-no-hub", (*FIT, "--model.weights", "true"), ("weights: true", "no pretrained weights for model 'mlp'", "weights: PATH")),
    Case("weights-with-weight-init", (*FIT, "--model.weights", "{ckpt}", "--model.weight_init", "keras"), ("weight_init 'keras'", "give one of them")),
    Case("activation-init-literal", (*FIT, "--model.activation_init", "fitted"), ("'model.activation_init'", "'fitted'", "'default', 'fit'")),
    Case("activation-init-fit-no-swap", (*FIT, "--model.activation_init", "fit"), ("activation_init: fit", "no activation is given")),
    Case("trainable-literal", (*FIT, "--model.trainable", "act"), ("'model.trainable'", "'act'", "'activations'")),
    Case("trainable-without-parameters", (*FIT, "--model.trainable", "activations"), ("trainable: activations", "have none", "prelu")),
    Case("unfreeze-without-freezing", (*FIT, "--model.unfreeze_at_epoch", "2"), ("unfreeze_at_epoch 2", "needs trainable: activations")),
    Case("activation-lr-zero", (*FIT, "--model.activation", "prelu", "--model.activation_lr", "0"), ("activation_lr must be > 0", "got 0")),
    Case("accelerator-gpu", (*FIT, "--trainer.accelerator", "gpu"), ("trainer.accelerator 'gpu'", "valid here: cpu")),
    Case("accelerator-cuda", (*FIT, "--trainer.accelerator", "cuda"), ("trainer.accelerator 'cuda'", "valid here: cpu")),
    Case("accelerator-unknown", (*FIT, "--trainer.accelerator", "quantum"), ("quantum", "cpu")),
    Case("precision-unknown", (*FIT, "--trainer.precision", "13"), ("precision", "13")),
    Case("devices-zero", (*FIT, "--trainer.devices", "0"), ("devices", "0")),
    Case("batch-size-zero", (*FIT, "--data.batch_size", "0"), ("batch_size", "0")),
    Case("batch-size-negative", (*FIT, "--data.batch_size", "-3"), ("batch_size", "-3")),
    Case("batch-size-text", (*FIT, "--data.batch_size", "x"), ("batch_size", "'x'", "int")),
    Case("val-fraction-too-big", (*FIT, "--data.val_fraction", "1.5"), ("val_fraction", "1.5")),
    Case("test-fraction-zero", (*FIT, "--data.test_fraction", "0"), ("split fraction must be in (0, 1)", "got 0.0")),
    Case("data-seed-text", (*FIT, "--data.seed", "x"), ("seed", "'x'", "int")),
    Case("samples-per-class-negative", (*FIT, "--data.samples_per_class", "-1"), ("samples_per_class", "-1")),
    Case("fold-out-of-range", (*FIT, "--data.folds", "3", "--data.fold", "5"), ("fold", "5")),
    Case("folds-one", (*FIT, "--data.folds", "1"), ("folds", "1")),
    Case("gradient-clip-text", (*FIT, "--trainer.gradient_clip_val", "x"), ("gradient_clip_val", "'x'")),
    Case("seed-everything-text", (*FIT, "--seed_everything", "abc"), ("seed_everything", "'abc'")),
    Case("activation-weight-decay-text", (*FIT, "--model.activation_weight_decay", "x"), ("activation_weight_decay", "'x'", "float")),
    Case("compile-mode", (*FIT, "--model.compile", "{mode: fast}"), ("compile.mode 'fast'", "max-autotune")),
    Case("compile-unknown-key", (*FIT, "--model.compile", "{foo: 1}"), ("compile", "'foo'", "valid: mode")),
    Case("backbone-kwargs-list", (*FIT, "--model.backbone_kwargs", "[1, 2]"), ("backbone_kwargs", "dict")),
    Case("backbone-kwargs-unknown", (*FIT, "--model.backbone_kwargs", "{hidden_size: [3]}"), ("unknown argument of model 'mlp' (backbone_kwargs) 'hidden_size'", "did you mean 'hidden_sizes'", "valid: act_layer, drop_rate, hidden_sizes")),
    Case("backbone-kwargs-of-other-model", (*FIT, "--model.backbone", "small_cnn"), ("unknown argument of model 'small_cnn' (backbone_kwargs) 'hidden_sizes'", "valid:", "channels")),
    Case("thresholds-text", (*FIT, "--tracking.thresholds", "abc"), ("thresholds", "'abc'")),
    Case("feature-scatter-literal", (*FIT, "--tracking.feature_scatter", "sometimes"), ("feature_scatter", "'sometimes'", "'auto'")),
    Case("checkpoint-mode-literal", (*FIT, "--checkpoint.mode", "best"), ("`mode` can be min, max but got best",)),
    Case("checkpoint-monitor-unknown", (*FIT, "--checkpoint.monitor", "val/accuracy"), ("val/accuracy", "val/acc")),
    # -- names -----------------------------------------------------------------------------------
    Case("backbone-unknown", (*FIT, "--model.backbone", "resnet1800"), ("unknown model 'resnet1800'", "did you mean 'resnet18'")),
    Case("backbone-empty", (*FIT, "--model.backbone", ""), ("unknown model ''", "timm.list_models()")),
    Case("activation-unknown", (*FIT, "--model.activation", "relux"), ("unknown activation 'relux'", "'relu'")),
    Case("activation-bad-argument", (*FIT, "--model.activation", "cpaf_relu(k=x)"), ("cpaf_relu", "k")),
    Case("activation-bad-granularity", (*FIT, "--model.activation", "prelu(granularity=pixel)"), ("granularity", "'pixel'", "channel")),
    Case("activation-unknown-argument", (*FIT, "--model.activation", "{name: prelu, foo: 1}"), ("activation 'prelu' has no argument(s) foo", "valid")),
    Case("activation-syntax", (*FIT, "--model.activation", "prelu("), ("prelu(",)),
    # a user's activation by import path (21.5); the test's folder is the current one, importable
    Case("activation-path-no-module", (*FIT, "--model.activation", "nosuch_acts_21.Snake"), ("activation 'nosuch_acts_21.Snake'", "module 'nosuch_acts_21' does not import", "ModuleNotFoundError")),
    Case("activation-path-import-error", (*FIT, "--model.activation", "acts_imports_21:Snake"), ("module 'acts_imports_21' does not import", "No module named 'not_installed_21'"), files={"acts_imports_21.py": "import not_installed_21\n"}),
    Case("activation-path-no-attribute", (*FIT, "--model.activation", "acts_attr_21.Snak"), ("unknown attribute of module 'acts_attr_21' 'Snak'", "did you mean 'Snake'"), files={"acts_attr_21.py": "from torch import nn\n\nclass Snake(nn.Module):\n    pass\n"}),
    Case("activation-path-class-form", (*FIT, "--model.activation", "{class_path: nosuch_acts_21b.Snake}"), ("activation 'nosuch_acts_21b.Snake'", "module 'nosuch_acts_21b' does not import")),
    Case("activation-path-not-module", (*FIT, "--model.activation", "acts_plain_21:Snake"), ("is a class but not a torch.nn.Module",), files={"acts_plain_21.py": "class Snake:\n    pass\n"}),
    Case("activation-path-factory-none", (*FIT, "--model.activation", "acts_none_21:make"), ("acts_none_21.make returned None, not an nn.Module",), files={"acts_none_21.py": "def make():\n    pass\n"}),
    Case("activation-path-missing-argument", (*FIT, "--model.activation", "acts_req_21:Shift"), ("missing required argument(s) shift", "acts_req_21:Shift(shift=...)"), files={"acts_req_21.py": "from torch import nn\n\nclass Shift(nn.Module):\n    def __init__(self, shift):\n        super().__init__()\n"}),
    Case("activation-path-changes-shape", (*FIT, "--model.activation", "acts_shape_21:Half"), ("activation 'acts_shape_21:Half' changes the shape of its input at site", "(2, 128) -> (2, 64)"), files={"acts_shape_21.py": "from torch import nn\n\nclass Half(nn.Module):\n    def forward(self, x):\n        return x[:, ::2]\n"}),
    Case("data-class-unknown", (*FIT, "--data", "actlab.data.Nope"), ("'actlab.data.Nope'", "actlab.data.WDBCDataModule")),
    Case("data-class-path-unknown", (*FIT, "--data.class_path", "actlab.data.Nope"), ("'actlab.data.Nope'", "actlab.data.WDBCDataModule")),
    Case("data-class-bare-name", (*FIT, "--data", "NoSuchData"), ("'NoSuchData'", "actlab.data.WDBCDataModule")),
    Case("model-class-unknown", (*FIT, "--model", "actlab.tasks.Nope"), ("'actlab.tasks.Nope'", "actlab.tasks.ClassificationModule")),
    Case("optimizer-unknown", (*FIT, "--model.optimizer", "torch.optim.Nope"), ("optimizer", "torch.optim.Nope")),
    Case("scheduler-unknown", (*FIT, "--model.lr_scheduler", "torch.optim.lr_scheduler.Nope"), ("lr_scheduler", "Nope")),
    Case("callback-unknown", (*FIT, "--trainer.callbacks+=actlab.Nope"), ("callbacks", "actlab.Nope")),
    Case("logger-unknown", (*FIT, "--trainer.logger", "actlab.Nope"), ("logger", "actlab.Nope")),
    # -- data files and shapes -------------------------------------------------------------------
    Case("mnist-missing", MNIST, ("MNIST", "not found", "download: true")),
    Case("cifar-missing", CIFAR, ("cifar-10", "download: true")),
    Case("fashion-missing", (*FIT, "--data", "actlab.data.FashionMNISTDataModule", "--data.root", "{tmp}/f"), ("FashionMNIST", "download: true")),
    Case("insects-missing", (*FIT, "--data", "actlab.data.ImageNetInsectsDataModule", "--data.root", "{tmp}/in"), ("imagenet_insects not found", "does not exist")),
    Case("mnist-root-is-file", (*FIT, "--data", "actlab.data.MNISTDataModule", "--data.root", "{tmp}/file.txt"), ("file.txt",), files={"file.txt": "x"}),
    Case("mnist-truncated", MNIST, ("train-images-idx3-ubyte",), data="mnist"),
    Case("cifar-corrupt-pickle", CIFAR, ("data_batch_1",), data="cifar10"),
    Case("flatten-conv-net", (*DIGITS, "--data.flatten", "true", *SMALL_CNN), ("model 'small_cnn' takes samples shaped (C, H, W)", "(64,)", "data.flatten")),
    Case("pca-conv-net", (*DIGITS, "--data.pca_components", "10", *SMALL_CNN), ("model 'small_cnn' takes samples shaped (C, H, W)", "(10,)", "pca_reshape")),
    Case("pca-too-many-components", (*DIGITS, "--data.pca_components", "5000"), ("pca_components", "5000")),
    Case("samples-per-class-too-many", (*FIT, "--data.samples_per_class", "100000"), ("samples_per_class", "100000")),
    Case("vit-on-tabular", (*FIT, "--model.backbone", "vit_tiny_patch16_224", "--model.backbone_kwargs", "{}"), ("model 'vit_tiny_patch16_224' takes samples shaped (C, H, W)", "patch_embed.proj", "(30,)")),
    # -- checkpoints -----------------------------------------------------------------------------
    Case("ckpt-missing", (*FIT, "--ckpt_path", "{tmp}/nope.ckpt"), ("nope.ckpt", "no such file")),
    Case("ckpt-empty", (*FIT, "--ckpt_path", "{tmp}/x.ckpt"), ("x.ckpt", "is empty"), files={"x.ckpt": b""}),
    Case("ckpt-random", (*FIT, "--ckpt_path", "{tmp}/x.ckpt"), ("x.ckpt", "not a PyTorch checkpoint"), files={"x.ckpt": bytes(range(7, 256)) * 20}),
    Case("ckpt-text", (*FIT, "--ckpt_path", "{tmp}/x.ckpt"), ("x.ckpt", "not a PyTorch checkpoint"), files={"x.ckpt": "state_dict: {}\n"}),
    Case("ckpt-truncated", (*FIT, "--ckpt_path", "{tmp}/trunc.ckpt"), ("trunc.ckpt", "truncated")),
    Case("ckpt-other-config", (*FIT, "--ckpt_path", "{ckpt}", "--model.head", "relu"), ("another configuration", "model.head", '"relu" here, "softmax" in the checkpoint')),
    Case("ckpt-other-model", (*DIGITS, "--ckpt_path", "{ckpt}", *SMALL_CNN), ("another configuration", "data.class_path", "model.backbone")),
    Case("ckpt-unsafe-objects", (*FIT, "--ckpt_path", "{tmp}/unsafe.ckpt"), ("unsafe.ckpt", "beyond tensors and plain data", "load only files you trust")),
    Case("ckpt-not-lightning", (*FIT, "--ckpt_path", "{tmp}/plain.ckpt"), ("plain.ckpt", "not a Lightning checkpoint")),
    Case("ckpt-last-none", (*FIT, "--ckpt_path", "last"), ("--ckpt_path last", "no last.ckpt of this configuration")),
    Case("ckpt-last-only-others", (*FIT, "--ckpt_path", "last", "--model.head", "relu"), ("--ckpt_path last", "no last.ckpt of this configuration", "never resumed")),
    Case("ckpt-is-folder", (*FIT, "--ckpt_path", "{tmp}"), ("no such file",)),
    Case("test-ckpt-truncated", (*TEST, "--ckpt_path", "{tmp}/trunc.ckpt"), ("trunc.ckpt", "truncated")),
    Case("test-ckpt-random", (*TEST, "--ckpt_path", "{tmp}/x.ckpt"), ("x.ckpt", "not a PyTorch checkpoint"), files={"x.ckpt": b"\x00" * 100}),
    # -- stores ----------------------------------------------------------------------------------
    Case("mlruns-is-file", FIT, ("ACTLAB_MLRUNS=", "is a file", "must be a folder"), files={"runs.txt": "x"}, env={"ACTLAB_MLRUNS": "{tmp}/runs.txt"}),
    Case("mlruns-inside-file", FIT, ("ACTLAB_MLRUNS=", "is inside the file"), files={"runs.txt": "x"}, env={"ACTLAB_MLRUNS": "{tmp}/runs.txt/mlruns"}),
    Case("mlruns-read-only-fs", FIT, ("ACTLAB_MLRUNS=/sys", "not writable", "ACTLAB_MLRUNS"), env={"ACTLAB_MLRUNS": "/sys"}),
    Case("mlruns-cannot-create", FIT, ("ACTLAB_MLRUNS=/sys/actlab-mlruns", "not writable", "/sys"), env={"ACTLAB_MLRUNS": "/sys/actlab-mlruns"}),
    Case("tracking-uri-not-a-uri", FIT, ("MLFLOW_TRACKING_URI='not-a-uri'", "not a tracking URI", "sqlite:///PATH"), env={"MLFLOW_TRACKING_URI": "not-a-uri"}),
    Case("tracking-uri-no-host", FIT, ("'http://'", "no host"), env={"MLFLOW_TRACKING_URI": "http://"}),
    Case("tracking-uri-sqlite-no-path", FIT, ("sqlite:///PATH",), env={"MLFLOW_TRACKING_URI": "sqlite://"}),
    Case("tracking-uri-ftp", FIT, ("'ftp://x'", "not a tracking URI", "http(s)://"), env={"MLFLOW_TRACKING_URI": "ftp://x"}),
    Case("tracking-uri-in-config", (*FIT, "--trainer.logger.init_args.tracking_uri", "nowhere"), ("'nowhere'", "not a tracking URI")),
    Case("db-not-sqlite", FIT, ("mlflow.db", "not an SQLite database"), files={"mlruns/mlflow.db": "hello"}),
    Case("db-is-folder", FIT, ("mlflow.db", "is a folder"), files={"mlruns/mlflow.db/x": "x"}),
    Case("report-mlruns-is-file", ("report", SWEEP), ("ACTLAB_MLRUNS=", "is a file"), files={"runs.txt": "x"}, env={"ACTLAB_MLRUNS": "{tmp}/runs.txt"}),
    Case("sweep-mlruns-is-file", ("sweep", SWEEP, "--smoke", "--gpus", ""), ("ACTLAB_MLRUNS=", "is a file"), files={"runs.txt": "x"}, env={"ACTLAB_MLRUNS": "{tmp}/runs.txt"}),
    Case("ui-mlruns-is-file", ("ui", "--port", "{free_port}"), ("ACTLAB_MLRUNS=", "is a file"), files={"runs.txt": "x"}, env={"ACTLAB_MLRUNS": "{tmp}/runs.txt"}),
    # -- sweep files -----------------------------------------------------------------------------
    Case("sweep-empty", ("sweep", "{tmp}/s.yaml", "--dry-run"), ("s.yaml",), files={"s.yaml": ""}),
    Case("sweep-list", ("sweep", "{tmp}/s.yaml", "--dry-run"), ("s.yaml",), files={"s.yaml": "- a\n"}),
    Case("sweep-no-experiment", ("sweep", "{tmp}/s.yaml", "--dry-run"), ("s.yaml", "experiment"), files={"s.yaml": "grid: {model.init_args.head: [relu]}\n"}),
    Case("sweep-unknown-key", ("sweep", "{tmp}/s.yaml", "--dry-run"), ("s.yaml", "'gird'", "did you mean 'grid'"), files={"s.yaml": "experiment: e\ngird: {}\n"}),
    Case("sweep-grid-not-mapping", ("sweep", "{tmp}/s.yaml", "--dry-run"), ("s.yaml", "grid"), files={"s.yaml": "experiment: e\ngrid: [1, 2]\n"}),
    Case("sweep-missing-base", ("sweep", "{tmp}/s.yaml", "--dry-run"), ("nope.yaml",), files={"s.yaml": "experiment: e\nbase: [nope.yaml]\n"}),
    Case("sweep-bad-seeds", ("sweep", "{tmp}/s.yaml", "--dry-run"), ("s.yaml", "seeds"), files={"s.yaml": "experiment: e\nseeds: [a, b]\n"}),
    Case("sweep-yaml-syntax", ("sweep", "{tmp}/s.yaml", "--dry-run"), ("s.yaml",), files={"s.yaml": "experiment: [e\n"}),
]
# fmt: on
