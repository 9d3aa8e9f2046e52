"""The package's shape: imports run one way, variant behaviour is checked where it is declared."""

import ast
import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from tf_rnn_mnist import layout, schedules, variants
from tf_rnn_mnist.data import MnistDataError
from tf_rnn_mnist.data.tutorial_splits import TF1_SPLIT, TORCH_SPLIT
from tf_rnn_mnist.data.splits import check_batch_order

PACKAGE = pathlib.Path(variants.__file__).parent
ROOT = PACKAGE.parent
PROJECT = ("tf_rnn_mnist", "legacy_tf1", "legacy_torch")


def _imports(packages=("tf_rnn_mnist",)):
  """{module: {project modules it imports, at any level of the file}} for `packages`."""
  graph = {}
  for package in packages:
    for path in (ROOT / package).rglob("*.py"):
      name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
      deps = set()
      for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PROJECT):
          for alias in node.names:
            full = f"{node.module}.{alias.name}"
            is_module = ((ROOT / (full.replace(".", "/") + ".py")).exists()
                         or (ROOT / full.replace(".", "/") / "__init__.py").exists())
            deps.add(full if is_module else node.module)
        elif isinstance(node, ast.Import):
          deps.update(a.name for a in node.names if a.name.startswith(PROJECT))
      graph[name] = deps - {name, "tf_rnn_mnist"}
  return graph


def test_every_module_has_a_layer_and_imports_only_downwards():
  """layout.LAYERS is docs/design.md's picture; an import upwards (a lower layer reaching into a
  higher one, e.g. plan importing cli) fails here, naming both modules."""
  graph = _imports()
  assert [m for m in graph if layout.layer_of(m) is None] == []
  upward = [f"{m} ({layout.LAYERS[layout.layer_of(m)][0]}) imports {d} "
            f"({layout.LAYERS[layout.layer_of(d)][0]})"
            for m, deps in graph.items() for d in sorted(deps)
            if layout.layer_of(d) < layout.layer_of(m)]
  assert upward == []


def test_the_legacy_scripts_import_only_what_is_declared_shared():
  graph = _imports(("legacy_tf1", "legacy_torch"))
  reaching = [f"{m} imports {d}" for m, deps in graph.items() for d in sorted(deps)
              if d.startswith("tf_rnn_mnist") and not layout.legacy_may_import(d)]
  assert reaching == []


def test_the_layering_test_catches_an_upward_import():
  """What the test above would say of plan importing cli (plan.py did, until it moved), or of
  data's command importing cli (it lived in data/ until it became tools/data.py)."""
  assert layout.layer_of("tf_rnn_mnist.plumbing.cli") < layout.layer_of("tf_rnn_mnist.data.flags")
  assert layout.layer_of("tf_rnn_mnist.migrate.__main__") > layout.layer_of(
      "tf_rnn_mnist.model.models")
  assert layout.layer_of("tf_rnn_mnist.training.plan") < layout.layer_of("tf_rnn_mnist.variants")
  assert not layout.legacy_may_import("tf_rnn_mnist.training.tutorial_log")


def _folders():
  return sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))


def test_a_folder_is_a_layer_and_its_docstring_says_what_it_may_import():
  """Every module of a folder sits in the folder's layer, only the entry points, the variant
  table and the base sit at the package's top, and each folder's docstring ends with the
  layers below it, so the docstring cannot drift from layout.LAYERS."""
  top = sorted(p.stem for p in PACKAGE.glob("*.py"))
  assert top == ["__init__", "__main__", "errors", "layout", "schedules", "train", "variants"]
  names = [name for name, _ in layout.LAYERS]
  for folder in _folders():
    package = f"tf_rnn_mnist.{folder.name}"
    layer = layout.layer_of(package)
    members = {layout.layer_of(".".join(p.relative_to(ROOT).with_suffix("").parts))
               for p in folder.rglob("*.py")}
    assert members == {layer}, package
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
    below = ", ".join(names[layer + 1:])
    assert doc.split("\n\n")[-1] == f"May import: {below}.", package


def test_no_module_imports_the_trainer_cli_and_there_is_no_cycle():
  graph = _imports()
  assert [m for m, deps in graph.items() if "tf_rnn_mnist.train" in deps] == []

  def cycle_from(module, path):
    for dep in graph.get(module, ()):
      if dep in path:
        return path[path.index(dep):] + [dep]
      found = cycle_from(dep, path + [dep])
      if found:
        return found
    return None
  assert {m: cycle_from(m, [m]) for m in graph} == {m: None for m in graph}


def test_variant_table_refuses_values_outside_its_types():
  row = variants.VARIANTS["static_gru"]
  with pytest.raises(ValueError, match=re.escape(
      "static_gru: loss='softmax' is not one of ('softmax_ce', 'double_softmax', 'sparse_ce')")):
    dataclasses.replace(row, loss="softmax")
  with pytest.raises(ValueError, match="'rnn' is not a valid Cell"):
    dataclasses.replace(row, cell="rnn")


def test_legacy_scripts_know_their_framework_and_initial_weights():
  gru, torch = variants.VARIANTS["static_gru"].legacy, variants.VARIANTS["torch_lstm"].legacy
  assert gru.command("--seed=1")[1:] == ["-m", "legacy_tf1.static_rnn", "--cell=gru", "--seed=1"]
  assert (gru.framework, torch.framework) == ("tf1-graph", "pytorch")
  assert gru.initial_weights("d") == ("d/initial.ckpt",
                                      ["--checkpoint_dir=d", "--save_initial_checkpoint"])
  assert torch.initial_weights("d") == ("d/initial.pt", ["--save_initial_state_dict=d/initial.pt"])


def test_tutorial_splits_sizes_epochs_and_examples():
  assert (TF1_SPLIT.train_size(60000), TORCH_SPLIT.train_size(60000)) == (55000, 60000)
  assert (TF1_SPLIT.steps_per_epoch(64, 55000), TORCH_SPLIT.steps_per_epoch(64, 60000)) == (
      859, 938)
  # torch: 2 epochs of 937 x 64 + 32, then 10 more batches of 64.
  assert TORCH_SPLIT.trained_examples(2 * 938 + 10, 64, 60000) == 2 * 60000 + 640
  assert TF1_SPLIT.trained_examples(100, 64, 55000) == 6400


def test_tutorial_splits_scale_and_slice_as_the_tutorials_did():
  from conftest import make_tiny_arrays
  from tf_rnn_mnist.data.sources import Mnist
  arrays = make_tiny_arrays(num_train=5010, num_test=3)
  mnist = Mnist(**arrays, source="test", location="tiny", digests={}, verified=False)
  tf1, torch = TF1_SPLIT.datasets(mnist), TORCH_SPLIT.datasets(mnist)
  assert (len(tf1.train_images), len(torch.train_images)) == (10, 5010)
  np.testing.assert_array_equal(tf1.train_labels, arrays["train_labels"][5000:])
  np.testing.assert_array_equal(  # TF1 multiplies by float32(1/255); torch divides by 255
      tf1.train_images, arrays["train_images"][5000:].astype(np.float32) * np.float32(1 / 255))
  np.testing.assert_array_equal(torch.test_images,
                                arrays["test_images"].astype(np.float32) / np.float32(255))


def test_timetable_says_what_happens_after_each_update():
  # static_*: counter from 1, train line every 10 tutorial steps; an evaluation every 25; a
  # checkpoint every 7 updates.
  counter = schedules.Counter(schedules.ExampleBudget(100000, counter_start=1), 429)
  timetable = schedules.Timetable(counter, train_log_every=10, eval_every=25,
                                  checkpoint_every=7)
  stops = [u for u in range(1, 51) if timetable.after(u)]
  assert stops == [7, 10, 14, 20, 21, 25, 28, 30, 35, 40, 42, 49, 50]
  assert timetable.after(50) == schedules.After(log_train=True, evaluate=True, checkpoint=False)
  assert timetable.next_stop(0, 100) == 7 and timetable.next_stop(42, 48) == 48
  assert schedules.Timetable(counter, None, None).next_stop(0, 100) == 100


@pytest.mark.parametrize("order,steps,batch,message", [
    ([[0, 1], [2, 3]], 3, 2, "holds an array of shape [2, 2]; this run needs at least 3 batches "
     "of 2: [steps >= 3, 2]."),
    ([[0, 1], [2, 9]], None, None, "must index the 9 training examples (0..8); it holds 0..9."),
    ([[0.0, 1.0]], None, None, "must be an integer array of shape (steps, batch), got float64"),
])
def test_one_batch_order_check(order, steps, batch, message):
  with pytest.raises(MnistDataError, match=re.escape(message)):
    check_batch_order(np.asarray(order), 9, "order", steps, batch)


def test_each_trainer_flag_is_defined_once_by_its_config_field():
  """train.define_flags makes the flags from TrainConfig's fields: the same names and defaults
  (the data flags are the data package's; --cpu_devices configures TensorFlow before a run)."""
  probe = ("import dataclasses, json\nfrom absl import flags\nfrom tf_rnn_mnist import train\n"
           "train.define_flags()\nprint(json.dumps({name: [flags.FLAGS[name].default, "
           "f.default] for f in dataclasses.fields(train.TrainConfig) for name in [f.name]}))")
  done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                        timeout=120)
  assert done.returncode == 0, done.stderr[-2000:]
  pairs = json.loads(done.stdout)
  assert {name: flag for name, (flag, field) in pairs.items() if flag != field} == {}
