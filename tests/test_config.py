"""Malformed configs: each exits 2 with one line naming the key or file."""

import dataclasses

import pytest

from experiments import config as config_lib
from experiments import loading, run

GOOD = config_lib.DEFAULT_CONFIG.read_text()

# (--set overrides, a fragment the one-line message must contain)
BAD_OVERRIDES = [
    (["bogus=1"], "config key 'bogus': unknown key"),
    (["train.bogus=1"], "config key 'train.bogus': unknown key"),
    (["train.epochs=0"], "config key 'train.epochs': must be a positive integer"),
    (["train.epochs=-3"], "config key 'train.epochs'"),
    (["train.epochs=2.5"], "config key 'train.epochs': expected an integer"),
    (["train.epochs=ten"], "config key 'train.epochs': expected an integer"),
    (["train.epochs=[1, 2]"], "config key 'train.epochs'"),
    (["train.batch_size=0"], "config key 'train.batch_size'"),
    (["train.batch_size=100000"], "config key 'train.batch_size'"),
    (["train.seed=-1"], "config key 'train.seed'"),
    (["train.eval_every=0"], "config key 'train.eval_every'"),
    (["train.log_every=0"], "config key 'train.log_every'"),
    (["train.checkpoint_every=0"], "config key 'train.checkpoint_every'"),
    (["train.keep_checkpoints=0"], "config key 'train.keep_checkpoints'"),
    (["train.max_segment_steps=0"], "config key 'train.max_segment_steps'"),
    (["train.segment_seconds=0"], "config key 'train.segment_seconds': must be a positive "
     "number of seconds"),
    (["train.checkpoint_every_s=-5"], "config key 'train.checkpoint_every_s': must be a "
     "positive number of seconds"),
    (["train.keep_checkpoints=1"],
     "config key 'train.keep_checkpoints': must be an integer >= 2, got 1"),
    (["train.devices=0"], "config key 'train.devices'"),
    (["train.devices=some"], "config key 'train.devices'"),
    (["train.devices=64"], "config key 'train.devices': 64 requested but only"),
    (["train.skip_nonfinite=maybe"], "config key 'train.skip_nonfinite': expected true or false"),
    (["train=5"], "config key 'train': expected a mapping"),
    (["optimizer.name=rmsprop"], "config key 'optimizer.name': unknown value 'rmsprop'; allowed"),
    (["optimizer.momentum=1.0"], "config key 'optimizer.momentum': must lie in [0.0, 1.0)"),
    (["optimizer.momentum=-0.5"], "config key 'optimizer.momentum'"),
    (["optimizer.momentum=[0.9]"], "config key 'optimizer.momentum'"),
    (["optimizer.learning_rate=0"], "config key 'optimizer.learning_rate': must be a positive"),
    (["optimizer.learning_rate=-1e-3"], "config key 'optimizer.learning_rate'"),
    (["optimizer.learning_rate=.nan"], "config key 'optimizer.learning_rate'"),
    (["optimizer.name=sgd"], "config key 'optimizer.learning_rate': required for optimizer 'sgd'"),
    (["optimizer.name=adam", "optimizer.learning_rate=0.1", "optimizer.momentum=0.9"],
     "config key 'optimizer.momentum': not used by optimizer 'adam'"),
    (["optimizer.preset=golden", ], "config key 'optimizer.preset': unknown value"),
    (["optimizer.preset=derived", ], "config key 'optimizer.preset': unknown value 'derived'; "
     "allowed: double_bayesian, reported, information, golden_partition, traditional"),
    (["optimizer.preset=reported", "optimizer.learning_rate=0.1"],
     "config key 'optimizer.preset': sets learning_rate and momentum"),
    (["optimizer.preset=information", "optimizer.momentum=0.5"], "config key 'optimizer.preset'"),
    (["optimizer.name=adam", "optimizer.learning_rate=0.1", "optimizer.nesterov=true"],
     "config key 'optimizer.nesterov'"),
    (["loss.name=mse"], "config key 'loss.name': unknown value 'mse'"),
    (["loss=null", "loss.name=1"], "config key 'loss.name'"),
    (["model.name=resnet"], "config key 'model.name': unknown value 'resnet'"),
    (["model.hidden_sizes=[0]"], "config key 'model.hidden_sizes[0]'"),
    (["model.hidden_sizes=[64, -1]"], "config key 'model.hidden_sizes[1]'"),
    (["model.hidden_sizes=64"], "config key 'model.hidden_sizes': expected a list"),
    (["model.activation=swish"], "config key 'model.activation'"),
    (["model.name=cnn", "model.channels=[8]"], "config key 'model.channels': cnn needs one entry"),
    (["model.padding=-1"], "config key 'model.padding'"),
    (["dataset.name=cifar100"], "config key 'dataset.name': unknown value 'cifar100'"),
    (["dataset.name=arrays"], "config key 'dataset.path': required for dataset 'arrays'"),
    (["dataset.path=/tmp"], "config key 'dataset.path': only allowed for datasets 'mnist', "
     "'fashion_mnist', 'cifar10', 'arrays' and 'text', not 'digits'"),
    (["dataset.label_noise=1.0"], "config key 'dataset.label_noise': must lie in [0.0, 1.0)"),
    (["dataset.label_noise=-0.1"], "config key 'dataset.label_noise': must lie in [0.0, 1.0)"),
    (["dataset.label_noise=lots"], "config key 'dataset.label_noise': expected a number"),
    (["dataset.name=fashion_mnist", "dataset.path=/nonexistent/fm"],
     "dataset file '/nonexistent/fm': not found"),
    (["model.pool=0"], "config key 'model.pool': must be a positive integer"),
    (["model.dense_sizes=[0]"], "config key 'model.dense_sizes[0]'"),
    (["dataset.test_fraction=1.5"], "config key 'dataset.test_fraction'"),
    (["dataset.test_fraction=0"], "config key 'dataset.test_fraction'"),
    (["dataset.num_samples=5"], "config key 'dataset.num_samples'"),
    (["dataset.limit_train=0"], "config key 'dataset.limit_train'"),
    (["sweep.momenta=[0.5, 1.2]"], "config key 'sweep.momenta[1]'"),
    (["sweep.learning_rates.min=0"], "config key 'sweep.learning_rates'"),
    (["sweep.learning_rates.num=0"], "config key 'sweep.learning_rates.num'"),
    (["sweep.learning_rates=[0.1, -1]"], "config key 'sweep.learning_rates[1]': must be a "
     "positive number"),
    (["sweep.learning_rates=[0.1, banana]"], "config key 'sweep.learning_rates[1]'"),
    (["sweep.learning_rates=[]"], "config key 'sweep.learning_rates': needs at least one"),
    (["sweep.momenta=[0.9, 0.9]"], "config key 'sweep.momenta': a value appears twice"),
    (["sweep.folds=[0]"], "config key 'sweep.folds': needs dataset.folds"),
    (["dataset.folds=3", "sweep.folds=[3]"],
     "config key 'sweep.folds[0]': must lie in 0..2"),
    (["sweep.reference=[0.1]"], "config key 'sweep.reference': expected [learning_rate, "
     "momentum]"),
    (["model.dropout=0.5"], "config key 'model.dropout': only for models 'cnn' and "
     "'transformer', not 'mlp'"),
    (["model.dropout=1.0", "model.name=cnn"], "config key 'model.dropout': must lie in"),
    (["model.conv=cudnn"], "config key 'model.conv': unknown value 'cudnn'; allowed: auto, "
     "xla, im2col"),
    (["model.init=he"], "config key 'model.init': unknown value 'he'"),
    (["sweep.chunk_size=0"], "config key 'sweep.chunk_size'"),
    (["compare.seeds=[]"], "config key 'compare.seeds'"),
    (["compare.optimizers=[{name: sgd}]"],
     "config key 'compare.optimizers[0].learning_rate': required"),
    (["compare.optimizers=[{name: sgd, lr: 0.1}]"], "config key 'compare.optimizers[0].lr'"),
    (["train.epochs"], "--set 'train.epochs': expected KEY=VALUE"),
    (["train.epochs=[1"], "config key 'train.epochs': --set value"),
]


def run_main(argv, capsys):
  with pytest.raises(SystemExit) as exit_info:
    run.main(argv)
  err = capsys.readouterr().err.strip()
  return exit_info.value.code, err


@pytest.mark.parametrize("overrides, fragment", BAD_OVERRIDES,
                         ids=[" ".join(o) for o, _ in BAD_OVERRIDES])
def test_bad_override_exits_2_with_one_line(overrides, fragment, capsys, tmp_path):
  argv = [arg for o in overrides for arg in ("--set", o)] + ["--out", str(tmp_path / "out")]
  code, err = run_main(argv, capsys)
  assert code == 2
  assert len(err.splitlines()) == 1, err
  assert fragment in err


BAD_FILES = [
    ("train:\n  epochs: 3\n   batch_size: 4\n", "line 3: YAML syntax error"),
    ("train: [1, 2\n", "YAML syntax error"),
    ("- just\n- a list\n", "expected a mapping of sections"),
    ("optimizer:\n  name: dual_process\n  learning_rate: fast\n",
     "config key 'optimizer.learning_rate': expected a number"),
    ("models:\n  name: mlp\n", "config key 'models': unknown key"),
    ("dataset:\n  name: mnist\n  path: /nonexistent/mnist\n",
     "dataset file '/nonexistent/mnist': not found; expected a folder with train-images"),
]


@pytest.mark.parametrize("text, fragment", BAD_FILES)
def test_bad_file_exits_2_with_one_line(text, fragment, capsys, tmp_path):
  path = tmp_path / "bad.yaml"
  path.write_text(text)
  code, err = run_main([str(path), "--out", str(tmp_path / "out")], capsys)
  assert code == 2
  assert len(err.splitlines()) == 1, err
  assert fragment in err


def test_missing_and_binary_config_files(capsys, tmp_path):
  code, err = run_main([str(tmp_path / "nope.yaml")], capsys)
  assert code == 2 and "config file" in err and "not found" in err
  binary = tmp_path / "binary.yaml"
  binary.write_bytes(b"\xff\xfe\x00\x01")
  code, err = run_main([str(binary)], capsys)
  assert code == 2 and "binary.yaml" in err


def test_unknown_command_line_flag_exits_2(capsys):
  code, err = run_main(["--epochs", "3"], capsys)
  assert code == 2 and "unrecognized arguments" in err


def test_shipped_configs_all_validate():
  for path in sorted(config_lib.DEFAULT_CONFIG.parent.glob("*.yaml")):
    if path.name.startswith(("suite", "transfer")):  # they list experiment configs
      load = loading.load_suite if path.name.startswith("suite") else loading.load_transfer
      config, workloads = load(path)
      assert set(workloads) == {w.name for w in config.workloads}, path
    else:
      assert isinstance(config_lib.load(path), config_lib.ExperimentConfig), path


def test_overrides_and_round_trip(tmp_path):
  config = config_lib.load(None, ["train.epochs=5", "model.hidden_sizes=[8, 4]",
                                  "optimizer.momentum=0.5"])
  assert config.train.epochs == 5
  assert config.model.hidden_sizes == (8, 4)
  assert config.optimizer.momentum == 0.5
  dumped = tmp_path / "c.yaml"
  dumped.write_text(config_lib.dump(config))
  assert config_lib.load(dumped) == config
  with pytest.raises(dataclasses.FrozenInstanceError):
    config.train.epochs = 3


def every_key(cls=config_lib.ExperimentConfig, prefix=""):
  """Every leaf key of the schema, with its type, walking into sections."""
  import typing
  hints = typing.get_type_hints(cls)
  for field in dataclasses.fields(cls):
    tp = hints[field.name]
    is_union = typing.get_origin(tp) is typing.Union
    options = [a for a in typing.get_args(tp) if a is not type(None)] if is_union else [tp]
    section = next((o for o in options if dataclasses.is_dataclass(o)), None)
    key = f"{prefix}{field.name}"
    if section is not None:
      yield from every_key(section, key + ".")
    else:
      yield key, tp


ALL_KEYS = list(every_key())


@pytest.mark.parametrize("key", [k for k, _ in ALL_KEYS])
def test_every_key_rejects_a_mapping_where_a_value_belongs(key, capsys, tmp_path):
  code, err = run_main(["--set", f"{key}={{oops: 1}}", "--out", str(tmp_path / "o")], capsys)
  assert code == 2 and len(err.splitlines()) == 1
  assert f"config key '{key}'" in err


@pytest.mark.parametrize("key", [k for k, tp in ALL_KEYS if "str" not in str(tp)])
def test_every_non_string_key_rejects_a_word(key, capsys, tmp_path):
  code, err = run_main(["--set", f"{key}=banana", "--out", str(tmp_path / "o")], capsys)
  assert code == 2 and len(err.splitlines()) == 1
  assert f"config key '{key}'" in err


def test_the_schema_walk_sees_every_section():
  keys = {k for k, _ in ALL_KEYS}
  assert {"dataset.name", "model.hidden_sizes", "loss.name", "optimizer.momentum",
          "train.devices", "compare.seeds", "sweep.learning_rates.min"} <= keys
  assert len(keys) == 83  # update with the schema: every leaf key is in the corpus
