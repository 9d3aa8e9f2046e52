"""Proof of faithfulness: converted weights give the tutorial's logits and loss, the same Adam steps
give the same weights, and TF1 checkpoints migrate to Keras with the same accuracy."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_same_adam_steps
from tf_rnn_mnist.training import loop
from tf_rnn_mnist.model import losses, weight_maps
from tf_rnn_mnist import train
from tf_rnn_mnist.data import TF1BatchOrder, load_mnist
from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.model.models import build_model
from tf_rnn_mnist.variants import VARIANTS

TORCH_MISSING = subprocess.run([sys.executable, "-c", "import torch"],
                               capture_output=True).returncode != 0
ONE_DEVICE = tf.distribute.OneDeviceStrategy("/cpu:0")
MATCHED_STEPS = 5

# Every variant whose v1 side is a TF1 graph (variants.py says which and how to run it).
TF1_VARIANTS = [name for name, v in VARIANTS.items() if v.legacy.framework == "tf1-graph"]


def _tf1_command(variant, *args):
  """The legacy graph's command; dropout off on both sides where the tutorial has some."""
  v = VARIANTS[variant]
  keep = ["--keep_prob=1.0"] if v.dropout_keep < 1 else []
  return v.legacy.command(*keep, *args)


def _data_flags(data_dir):
  return ["--data_source=idx", f"--data_dir={data_dir}", "--noverify_digests"]


@pytest.fixture(scope="module")
def matched_tf1_runs(small_idx_dir, tmp_path_factory):
  """Each TF1 graph trained MATCHED_STEPS steps on a recorded batch order, lazily, once.

  Returns variant -> directory holding order.npy, initial.ckpt, model.ckpt-5, outputs.npz
  (the graph's test-set outputs and loss after training) and results.json.
  """
  runs = {}

  def run(variant):
    if variant not in runs:
      directory = tmp_path_factory.mktemp(variant)
      batch = VARIANTS[variant].batch_size
      np.save(directory / "order.npy", TF1BatchOrder(300, seed=11).take(batch, MATCHED_STEPS))
      done = subprocess.run(
          _tf1_command(variant, *_data_flags(small_idx_dir),
           f"--train_steps={MATCHED_STEPS}", f"--batch_indices={directory / 'order.npy'}",
           f"--checkpoint_dir={directory}", "--save_initial_checkpoint",
           f"--save_test_outputs={directory / 'outputs.npz'}",
           f"--results_json={directory / 'results.json'}"),
          capture_output=True, text=True, timeout=300)
      assert done.returncode == 0, done.stderr[-3000:]
      runs[variant] = directory
    return runs[variant]
  return run


def _keras_model(variant, weights_path):
  model = build_model(VARIANTS[variant], dropout_keep=1.0)
  weight_maps.set_model_weights(model, weight_maps.keras_weights_from(VARIANTS[variant],
                                                                  str(weights_path)))
  return model


def _test_data(variant, small_idx_dir):
  return VARIANTS[variant].data_split.datasets(load_mnist("idx", small_idx_dir,
                                                          verify_digests=False))


@pytest.mark.parametrize("variant", TF1_VARIANTS)
def test_forward_equivalence(variant, matched_tf1_runs, small_idx_dir):
  """The TF1 graph's trained weights, converted: same logits (1e-5) and loss (1e-6 relative),
  the double softmax of basic_lstm included."""
  directory = matched_tf1_runs(variant)
  data = _test_data(variant, small_idx_dir)  # random pixels: random inputs
  model = _keras_model(variant, directory / f"model.ckpt-{MATCHED_STEPS}")
  outputs = model(data.test_images, training=False).numpy()
  tf1 = np.load(directory / "outputs.npz")
  assert np.abs(outputs - tf1["outputs"]).max() <= 1e-5
  loss = tf.reduce_mean(losses.per_example_loss(VARIANTS[variant].loss, data.test_labels,
                                                outputs)).numpy()
  np.testing.assert_allclose(loss, tf1["loss"], rtol=1e-6)


@pytest.mark.parametrize("variant", TF1_VARIANTS)
def test_adam_steps_equivalence(variant, matched_tf1_runs, small_idx_dir):
  """From the graph's initial weights, on its batches: the same weights after 5 Adam steps."""
  directory = matched_tf1_runs(variant)
  config = train.TrainConfig(variant=variant, train_steps=MATCHED_STEPS, dropout_keep=1.0,
                             init_from=str(directory / "initial.ckpt"), eval_every=0,
                             batch_indices=str(directory / "order.npy"), progress=False)
  trainer, _, _ = loop.train_model(config, _test_data(variant, small_idx_dir), ONE_DEVICE)
  keras_weights = weight_maps.model_weights(trainer.model)
  tf1_weights = weight_maps.keras_weights_from(
      VARIANTS[variant], str(directory / f"model.ckpt-{MATCHED_STEPS}"))
  initial = weight_maps.keras_weights_from(VARIANTS[variant], str(directory / "initial.ckpt"))
  for layer, arrays in keras_weights.items():
    for mine, theirs, start in zip(arrays, tf1_weights[layer], initial[layer]):
      assert np.abs(mine - start).max() > 1e-4  # the steps really moved the weights
      assert_same_adam_steps(variant, mine, theirs)


@pytest.mark.parametrize("fast", [True, False], ids=["fast_path", "fallback_path"])
def test_both_kernel_paths_take_the_tf1_graphs_adam_steps(fast, matched_tf1_runs,
                                                          small_idx_dir, monkeypatch):
  """multilayer's update runs `h @ U` as BatchMatMulV2 where that kernel is bitwise MatMul's
  on the CPU at hand, as MatMul elsewhere (layers.batched_matmul_is_matmul), and its three
  layers as a wavefront where the step-by-step matmuls are the whole ones, stacked elsewhere
  (wavefront.applies): each path, forced, takes the TF1 graph's 5 Adam steps (outputs and
  gradients through the steps) and gives its logits to 1e-5, whichever path this CPU picks."""
  from tf_rnn_mnist.model import layers
  from tf_rnn_mnist.training import trainer as trainer_lib
  monkeypatch.setattr(layers, "batched_matmul_is_matmul", lambda *shape: fast)
  monkeypatch.setattr(layers, "stepwise_matmuls_are_whole", lambda *shape: fast)
  directory = matched_tf1_runs("multilayer")
  data = _test_data("multilayer", small_idx_dir)
  config = train.TrainConfig(variant="multilayer", train_steps=MATCHED_STEPS, dropout_keep=1.0,
                             init_from=str(directory / "initial.ckpt"), eval_every=0,
                             batch_indices=str(directory / "order.npy"), progress=False)
  trainer, _, _ = loop.train_model(config, data, ONE_DEVICE)
  assert trainer.wavefront is fast and isinstance(trainer, trainer_lib.Trainer)
  tf1_weights = weight_maps.keras_weights_from(VARIANTS["multilayer"],
                                               str(directory / f"model.ckpt-{MATCHED_STEPS}"))
  for layer, arrays in weight_maps.model_weights(trainer.model).items():
    for mine, theirs in zip(arrays, tf1_weights[layer]):
      assert_same_adam_steps("multilayer", mine, theirs)
  outputs = trainer.model(data.test_images, training=False).numpy()
  assert np.abs(outputs - np.load(directory / "outputs.npz")["outputs"]).max() <= 1e-5


@pytest.mark.parametrize("variant", TF1_VARIANTS)
def test_keras_tf1_round_trip_is_exact(variant, tmp_path):
  model = build_model(VARIANTS[variant])
  weights = weight_maps.model_weights(model)
  prefix = weight_maps.write_tf1_checkpoint(weight_maps.keras_to_tf1(VARIANTS[variant], weights),
                                        str(tmp_path / "ckpt"))
  back = weight_maps.tf1_to_keras(VARIANTS[variant], weight_maps.read_tf1_checkpoint(prefix))
  for layer in weights:
    for a, b in zip(weights[layer], back[layer]):
      np.testing.assert_array_equal(a, b)


def test_tf1_checkpoint_migrates_with_the_same_accuracy(matched_tf1_runs, small_idx_dir,
                                                        tmp_path):
  directory = matched_tf1_runs("static_gru")
  output = tmp_path / "migrated.keras"
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.tools.convert", "--variant=static_gru",
       f"--tf1_checkpoint={directory / f'model.ckpt-{MATCHED_STEPS}'}", f"--output={output}",
       *_data_flags(small_idx_dir)], capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  tf1_accuracy = json.loads((directory / "results.json").read_text())["test_accuracy"]
  last = done.stdout.splitlines()[-1]
  assert re.fullmatch(r"test accuracy of the converted model \(40 images\): \d\.\d{4}", last)
  assert abs(float(last.split()[-1]) - tf1_accuracy) <= 1e-4
  import keras
  predictions = keras.models.load_model(output).predict(
      _test_data("static_gru", small_idx_dir).test_images, verbose=0)
  assert predictions.shape == (40, 10)


def test_converting_the_wrong_variant_names_what_is_missing(matched_tf1_runs):
  checkpoint = str(matched_tf1_runs("static_gru") / f"model.ckpt-{MATCHED_STEPS}")
  with pytest.raises(ConfigError) as e:
    weight_maps.keras_weights_from(VARIANTS["static_lstm"], checkpoint)
  assert str(e.value) == (
      f"{checkpoint} has no variable rnn/basic_lstm_cell/kernel (missing: "
      "rnn/basic_lstm_cell/kernel, rnn/basic_lstm_cell/bias), which the static_lstm graph "
      "creates. It holds dense/bias, dense/kernel, rnn/gru_cell/candidate/bias, "
      "rnn/gru_cell/candidate/kernel, rnn/gru_cell/gates/bias, rnn/gru_cell/gates/kernel: a "
      "checkpoint of another variant, or of another graph?")


def _tf1_variables(variant):
  return weight_maps.keras_to_tf1(
      VARIANTS[variant], weight_maps.model_weights(build_model(VARIANTS[variant])))


def test_missing_variable_and_shape_mismatch_and_extra_variable(tmp_path):
  tf1_vars = _tf1_variables("basic_lstm")
  del tf1_vars["Variable_1"]
  prefix = weight_maps.write_tf1_checkpoint(tf1_vars, str(tmp_path / "a" / "ckpt"))
  with pytest.raises(ConfigError, match=re.escape(
      f"{prefix} has no variable Variable_1 (missing: Variable_1), which the basic_lstm graph "
      "creates.")):
    weight_maps.keras_weights_from(VARIANTS["basic_lstm"], prefix)

  tf1_vars = _tf1_variables("basic_lstm")
  tf1_vars["rnn/basic_lstm_cell/kernel"] = np.zeros((128, 404), np.float32)
  prefix = weight_maps.write_tf1_checkpoint(tf1_vars, str(tmp_path / "b" / "ckpt"))
  with pytest.raises(ConfigError) as e:
    weight_maps.keras_weights_from(VARIANTS["basic_lstm"], prefix)
  assert str(e.value) == (f"{prefix}: variable rnn/basic_lstm_cell/kernel has shape [128, 404], "
                          "but basic_lstm needs [128, 400].")

  tf1_vars = _tf1_variables("basic_lstm")
  tf1_vars["rnn/basic_lstm_cell/kernel/Adam"] = tf1_vars["rnn/basic_lstm_cell/kernel"]
  tf1_vars["extra_layer/kernel"] = np.zeros(3, np.float32)
  prefix = weight_maps.write_tf1_checkpoint(tf1_vars, str(tmp_path / "c" / "ckpt"))
  with pytest.raises(ConfigError) as e:  # Adam's slots are fine; an unknown weight is not
    weight_maps.keras_weights_from(VARIANTS["basic_lstm"], prefix)
  assert str(e.value) == (f"{prefix} holds variables the basic_lstm graph does not have: "
                          "extra_layer/kernel. A checkpoint of another variant, or of another "
                          "graph?")


def test_convert_cli_errors(tmp_path):
  def convert_cli(*args):
    return subprocess.run([sys.executable, "-m", "tf_rnn_mnist.tools.convert", *args],
                          capture_output=True, text=True, timeout=120)
  done = convert_cli("--variant=static_gru", f"--tf1_checkpoint={tmp_path / 'nothing'}",
                     f"--output={tmp_path / 'm.keras'}", "--noevaluate")
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert f"error: {tmp_path / 'nothing'} is not a readable TF checkpoint" in done.stderr
  done = convert_cli("--variant=static_gru", f"--output={tmp_path / 'm.keras'}")
  assert done.returncode == 1
  assert ("error: Pass exactly one of --tf1_checkpoint, --torch_state_dict, --keras_model."
          in done.stderr)
  done = convert_cli("--variant=gru", f"--output={tmp_path / 'm.keras'}")
  assert done.returncode == 1 and "flag --variant=gru: value should be one of" in done.stderr


# --- PyTorch ---------------------------------------------------------------------------------


needs_torch = pytest.mark.skipif(TORCH_MISSING,
                                 reason="PyTorch is not installed (optional extra 'torch')")


@needs_torch
def test_torch_forward_equivalence():
  import torch
  from legacy_torch.mnist_lstm import RNN  # the tutorial's module itself
  torch.manual_seed(0)
  tutorial_model = RNN()
  state = {name: t.detach().numpy() for name, t in tutorial_model.state_dict().items()}
  model = build_model(VARIANTS["torch_lstm"])
  weight_maps.set_model_weights(model, weight_maps.torch_to_keras(state))
  x = np.random.default_rng(1).random((32, 28, 28), dtype=np.float32)
  labels = np.arange(32) % 10
  with torch.no_grad():
    torch_logits = tutorial_model(torch.from_numpy(x))
    torch_loss = torch.nn.CrossEntropyLoss()(torch_logits, torch.from_numpy(labels)).item()
  logits = model(x).numpy()
  assert np.abs(logits - torch_logits.numpy()).max() <= 1e-5
  loss = tf.reduce_mean(losses.per_example_loss("sparse_ce", labels, logits)).numpy()
  np.testing.assert_allclose(loss, torch_loss, rtol=1e-6)
  back = weight_maps.torch_to_keras(weight_maps.keras_to_torch(weight_maps.model_weights(model)))
  for layer, arrays in weight_maps.model_weights(model).items():
    for a, b in zip(arrays, back[layer]):
      np.testing.assert_array_equal(a, b)


@needs_torch
def test_torch_adam_steps_equivalence(small_idx_dir, tmp_path):
  """PyTorch's Adam on the tutorial's two LSTM biases, reproduced: 5 steps, same weights."""
  import torch
  from legacy_torch.mnist_lstm import RNN
  torch.manual_seed(3)
  torch.save(RNN().state_dict(), tmp_path / "initial.pt")
  np.save(tmp_path / "order.npy", np.random.default_rng(0).permutation(5300)[:5 * 64].reshape(5, 64))
  done = subprocess.run(
      [sys.executable, "-m", "legacy_torch.mnist_lstm", *_data_flags(small_idx_dir),
       f"--train_steps={MATCHED_STEPS}", f"--initial_state_dict={tmp_path / 'initial.pt'}",
       f"--batch_indices={tmp_path / 'order.npy'}", f"--save_state_dict={tmp_path / 'final.pt'}"],
      capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  config = train.TrainConfig(variant="torch_lstm", train_steps=MATCHED_STEPS, eval_every=0,
                             init_from=str(tmp_path / "initial.pt"), progress=False,
                             batch_indices=str(tmp_path / "order.npy"))
  trainer, _, _ = loop.train_model(config, _test_data("torch_lstm", small_idx_dir), ONE_DEVICE)
  theirs = weight_maps.keras_weights_from(VARIANTS["torch_lstm"], str(tmp_path / "final.pt"))
  for layer, arrays in weight_maps.model_weights(trainer.model).items():
    for mine, other in zip(arrays, theirs[layer]):
      assert_same_adam_steps("torch_lstm", mine, other)


@needs_torch
def test_torch_state_dict_errors(tmp_path):
  state = {"rnn.weight_ih_l0": np.zeros((256, 28), np.float32)}
  with pytest.raises(ConfigError) as e:
    weight_maps.torch_to_keras(state, "m.pt")
  assert str(e.value) == ("m.pt is not the tutorial's RNN: missing rnn.weight_hh_l0, rnn.bias_ih_l0, "
                          "rnn.bias_hh_l0, out.weight, out.bias.")
  with pytest.raises(ConfigError, match=re.escape(
      "x.pt is a PyTorch state_dict; only torch_lstm comes from PyTorch.")):
    weight_maps.keras_weights_from(VARIANTS["static_gru"], "x.pt")


# --- Trajectory: whole matched runs on the real data (markers: real_data, long: --long) -------


@pytest.mark.real_data
@pytest.mark.long
@pytest.mark.parametrize("variant", ["static_lstm", "basic_lstm"])
def test_matched_300_step_trajectory(variant, real_mnist_dir, tmp_path):
  """Same initial weights, same batches, 300 steps on MNIST: test accuracies within 0.002."""
  batch = VARIANTS[variant].batch_size
  np.save(tmp_path / "order.npy", TF1BatchOrder(55000, seed=5).take(batch, 300))
  done = subprocess.run(
      _tf1_command(variant, "--data_source=idx", f"--data_dir={real_mnist_dir}",
                   "--train_steps=300", f"--batch_indices={tmp_path / 'order.npy'}",
                   f"--checkpoint_dir={tmp_path}", "--save_initial_checkpoint",
                   f"--results_json={tmp_path / 'tf1.json'}"),
      capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  mnist = load_mnist("idx", real_mnist_dir)
  config = train.TrainConfig(variant=variant, train_steps=300, eval_every=0, progress=False,
                             init_from=str(tmp_path / "initial.ckpt"),
                             batch_indices=str(tmp_path / "order.npy"))
  _, keras_results, _ = loop.train_model(config, VARIANTS[variant].data_split.datasets(mnist),
                                       ONE_DEVICE)
  tf1_results = json.loads((tmp_path / "tf1.json").read_text())
  assert abs(keras_results["test_accuracy"] - tf1_results["test_accuracy"]) <= 0.002


def test_unreadable_keras_model_is_a_clear_error(tmp_path):
  with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'x.keras'} is not a readable "
                                                  "Keras model")):
    weight_maps.keras_weights_from(VARIANTS["static_gru"], str(tmp_path / "x.keras"))


def test_the_legacy_checkpoints_carry_their_graph(matched_tf1_runs):
  """The TF1 scripts save a .meta beside every checkpoint (Saver's default), so `migrate`
  reads the project's own checkpoints whole: the graph loads, with the tutorial's input
  placeholder and its trained variables. (write_meta_graph=False fails here.)"""
  from tf_rnn_mnist.migrate import graph as graph_lib
  directory = matched_tf1_runs("static_gru")
  for prefix in ("initial.ckpt", f"model.ckpt-{MATCHED_STEPS}"):
    graph = graph_lib.load(str(directory / f"{prefix}.meta"))
    ops = {node.name: node.op for node in graph.graph_def.node}
    assert ops["Placeholder"] == "Placeholder"
    assert any(kind in ("VariableV2", "VarHandleOp") for kind in ops.values())
