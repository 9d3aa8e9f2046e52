"""legacy_tf1 and legacy_torch: short runs, the graphs' variables, the input_data shim."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_rnn_mnist.plumbing import results as results_io
from tf_rnn_mnist.model import weight_maps
from tf_rnn_mnist.data import TF1BatchOrder, load_mnist
from tf_rnn_mnist.variants import VARIANTS

TORCH_MISSING = subprocess.run([sys.executable, "-c", "import torch"],
                               capture_output=True).returncode != 0


def _script(module, *args, data_dir, code=None):
  command = [sys.executable, "-m", module] if code is None else [sys.executable, "-c", code]
  return subprocess.run(
      [*command, "--data_source=idx", f"--data_dir={data_dir}", "--noverify_digests", *args],
      capture_output=True, text=True, timeout=300)


def _legacy(variant, *args, data_dir):
  """The variant's legacy script, run as variants.py says."""
  return subprocess.run(
      VARIANTS[variant].legacy.command("--data_source=idx", f"--data_dir={data_dir}",
                                       "--noverify_digests", *args),
      capture_output=True, text=True, timeout=300)


# Every variant whose v1 side is a TF1 graph, with the command variants.py gives for it.
TF1_VARIANTS = [name for name, v in VARIANTS.items() if v.legacy.framework == "tf1-graph"]


@pytest.mark.parametrize("variant", TF1_VARIANTS)
def test_tf1_script_short_run(variant, small_idx_dir, tmp_path):
  """The graph builds and trains, and its variables are exactly those the converter maps
  (names and shapes): the real graph is the reference, weight_maps' expectation the claim."""
  results_path, checkpoints = tmp_path / "r.json", tmp_path / "ckpt"
  done = _legacy(variant, "--train_steps=3", f"--results_json={results_path}",
                 f"--checkpoint_dir={checkpoints}", "--save_initial_checkpoint",
                 f"--logdir={tmp_path / 'tb'}", data_dir=small_idx_dir)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads(results_path.read_text())
  assert set(results_io.RESULT_KEYS) <= set(results)
  assert (results["variant"], results["framework"], results["steps"]) == (variant, "tf1-graph", 3)
  assert results["test_examples"] == 40
  assert done.stdout.splitlines()[-1].startswith("Full test accuracy (40 images): ")
  for name in ("initial.ckpt", "model.ckpt-3"):
    found = {k: tuple(v) for k, v in tf.train.list_variables(str(checkpoints / name))}
    assert found == weight_maps.expected_tf1_shapes(VARIANTS[variant])
  assert list((tmp_path / "tb").iterdir())


def test_tf1_tutorial_print_lines(small_idx_dir):
  done = _script("legacy_tf1.static_rnn", "--cell=gru", "--train_steps=10",
                 data_dir=small_idx_dir)
  lines = done.stdout.splitlines()
  assert lines[0].startswith("Iter 1280, Minibatch Loss= ") and lines[1] == " Finished!"
  assert lines[2].startswith("Testing Accuracy: ")
  done = _script("legacy_tf1.multilayer_lstm", "--train_steps=1", data_dir=small_idx_dir)
  assert [line.split()[:2] for line in done.stdout.splitlines()[:2]] == [["Train", "0"],
                                                                         ["Test", "0"]]


def test_initial_checkpoint_and_batch_indices_make_runs_repeatable(small_idx_dir, tmp_path):
  """Same initial weights and batch order, different --seed: the same trained weights."""
  first = tmp_path / "first"
  assert _script("legacy_tf1.static_rnn", "--train_steps=1", f"--checkpoint_dir={first}",
                 "--save_initial_checkpoint", data_dir=small_idx_dir).returncode == 0
  order = tmp_path / "order.npy"
  np.save(order, np.stack([np.roll(np.arange(128) % 100, k) for k in range(4)]))
  trained = []
  for seed in (1, 2):
    directory = tmp_path / f"seed{seed}"
    done = _script("legacy_tf1.static_rnn", "--train_steps=4", f"--seed={seed}",
                   f"--initial_checkpoint={first / 'initial.ckpt'}", f"--batch_indices={order}",
                   f"--checkpoint_dir={directory}", data_dir=small_idx_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    reader = tf.train.load_checkpoint(str(directory / "model.ckpt-4"))
    shapes = weight_maps.expected_tf1_shapes(VARIANTS["static_lstm"])
    trained.append({name: reader.get_tensor(name) for name in shapes})
  for name in trained[0]:
    np.testing.assert_array_equal(trained[0][name], trained[1][name])


def test_batch_indices_of_the_wrong_batch_size(small_idx_dir, tmp_path):
  order = tmp_path / "order.npy"
  np.save(order, np.zeros((4, 64), np.int64))
  done = _script("legacy_tf1.static_rnn", "--train_steps=4", f"--batch_indices={order}",
                 data_dir=small_idx_dir)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert ("error: The batch order holds batches of 64; batch_size 128 was asked for."
          in done.stderr)


def test_input_data_shim_matches_tf1(small_idx_dir):
  """read_data_sets: TF1's split, dtypes, scaling, next_batch order from the graph seed, and
  the three get_seed calls TF1's DataSets made (they shift later ops' seeds)."""
  from legacy_tf1 import input_data
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(7)
    mnist = input_data.read_data_sets(small_idx_dir, one_hot=True, source="idx",
                                      verify_digests=False)
    assert tf.compat.v1.get_seed(None) == (7, 3)  # op seeds 0, 1, 2 went to the DataSets
  official = load_mnist("idx", small_idx_dir, verify_digests=False)
  assert (mnist.train.num_examples, mnist.validation.num_examples, mnist.test.num_examples) == (
      300, 5000, 40)
  assert mnist.train.images.dtype == np.float32 and mnist.train.images.shape == (300, 784)
  assert mnist.train.labels.dtype == np.float64 and mnist.train.labels.shape == (300, 10)
  np.testing.assert_array_equal(
      mnist.test.images, official.test_images.reshape(40, 784).astype(np.float32) * np.float32(
          1 / 255))
  np.testing.assert_array_equal(mnist.validation.labels.argmax(1), official.train_labels[:5000])
  expected = TF1BatchOrder(300, seed=7).take(70, 9)
  for k in range(9):
    images, labels = mnist.train.next_batch(70)
    np.testing.assert_array_equal(labels.argmax(1), official.train_labels[5000:][expected[k]])
  assert mnist.train.epochs_completed == 2
  dense = input_data.read_data_sets(small_idx_dir, one_hot=False, source="idx",
                                    verify_digests=False)
  np.testing.assert_array_equal(dense.test.labels, official.test_labels)


def test_missing_tf_keras_is_a_clear_message(small_idx_dir):
  hide = ("import sys, runpy; sys.modules['tf_keras'] = None; "
          "sys.argv = ['basic_lstm'] + sys.argv[1:]; "
          "runpy.run_module('legacy_tf1.basic_lstm', run_name='__main__')")
  done = _script(None, data_dir=small_idx_dir, code=hide)
  assert done.returncode == 1
  assert done.stderr.strip().startswith("error: legacy_tf1 needs the tf-keras package")
  assert "pip install 'tf-keras~=2.21.0'" in done.stderr and "Traceback" not in done.stderr


def test_legacy_bad_flag_exits_1(small_idx_dir):
  done = _script("legacy_tf1.static_rnn", "--cell=rnn", data_dir=small_idx_dir)
  assert done.returncode == 1
  cells = [a.split("=")[1] for v in VARIANTS.values() if v.legacy.module == "legacy_tf1.static_rnn"
           for a in v.legacy.args]
  assert f"flag --cell=rnn: value should be one of <{'|'.join(cells)}>" in done.stderr
  done = _script("legacy_tf1.basic_lstm", "--train_steps=0", data_dir=small_idx_dir)
  assert done.returncode == 1 and "--train_steps must be a positive integer" in done.stderr


@pytest.mark.skipif(TORCH_MISSING, reason="PyTorch is not installed (optional extra 'torch')")
def test_torch_script_short_run(small_idx_dir, tmp_path):
  import torch
  results_path, state = tmp_path / "r.json", tmp_path / "m.pt"
  done = _script("legacy_torch.mnist_lstm", "--train_steps=3", f"--results_json={results_path}",
                 f"--save_state_dict={state}", data_dir=small_idx_dir)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads(results_path.read_text())
  assert (results["variant"], results["framework"], results["steps"]) == ("torch_lstm",
                                                                          "pytorch", 3)
  assert done.stdout.splitlines()[-1].startswith("Full test accuracy (40 images): ")
  assert "Epoch:  0 | train loss: " in done.stdout
  shapes = {k: list(v.shape) for k, v in torch.load(state).items()}
  assert shapes == {"rnn.weight_ih_l0": [256, 28], "rnn.weight_hh_l0": [256, 64],
                    "rnn.bias_ih_l0": [256], "rnn.bias_hh_l0": [256], "out.weight": [10, 64],
                    "out.bias": [10]}


def test_torch_missing_is_a_clear_message(small_idx_dir):
  hide = ("import sys, runpy; sys.modules['torch'] = None; "
          "sys.argv = ['mnist_lstm'] + sys.argv[1:]; "
          "runpy.run_module('legacy_torch.mnist_lstm', run_name='__main__')")
  done = _script(None, data_dir=small_idx_dir, code=hide)
  assert done.returncode == 1
  assert done.stderr.strip().startswith("error: legacy_torch needs PyTorch.")


def test_unreadable_matched_inputs_are_one_line_errors(small_idx_dir, tmp_path):
  done = _script("legacy_tf1.static_rnn", f"--batch_indices={tmp_path / 'none.npy'}",
                 data_dir=small_idx_dir)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert f"error: --batch_indices={tmp_path / 'none.npy'} is not a readable .npy file" in (
      done.stderr)
  done = _script("legacy_tf1.static_rnn", "--train_steps=1",
                 f"--initial_checkpoint={tmp_path / 'none.ckpt'}", data_dir=small_idx_dir)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert f"error: --initial_checkpoint={tmp_path / 'none.ckpt'} cannot initialise this graph" in (
      done.stderr)
