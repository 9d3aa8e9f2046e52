"""Proof that a converted model computes what the TF1 graph computed: both run the same random
inputs, TF1's side in its own process (legacy_tf1.rnn_graph) with TF1's own cells restored from
the checkpoint, Keras's side from the .keras file as written to disk."""

import os
import subprocess
import sys
import tempfile

import numpy as np

from tf_rnn_mnist.errors import ConfigError, MismatchError
from tf_rnn_mnist.migrate import spec as spec_io

TOLERANCE = 1e-5


def tf1_outputs(graph_specs, workdir):
  """The TF1 graphs' outputs [{name: array}] of `graph_specs`, all in one process."""
  paths = []
  for index, graph_spec in enumerate(graph_specs):
    paths.append(os.path.join(workdir, f"spec_{index}.json"))
    spec_io.write(graph_spec, paths[-1])
  done = subprocess.run([sys.executable, "-m", "legacy_tf1.rnn_graph", *paths],
                        capture_output=True, text=True)
  if done.returncode != 0:
    lines = [l for l in done.stderr.splitlines() if l.strip()]
    raise ConfigError(f"the TF1 graph did not run: {lines[-1] if lines else done.returncode}")
  outputs = []
  for graph_spec in graph_specs:
    with np.load(graph_spec.output) as arrays:
      outputs.append(dict(arrays))
  return outputs


def random_inputs(structures, batch, timesteps, seed=0):
  return np.random.default_rng(seed).standard_normal(
      (batch, timesteps, structures[0].input_size)).astype(np.float32)


def _labels(structures):
  labels = []
  for structure in structures:
    for cell in structure.cells:
      labels += [f"{cell.scope} final {state}" for state in cell.kind.keras_states]
  return labels


def load_model(model_path):
  """The .keras file at `model_path`, with this package's layers registered."""
  import keras
  from tf_rnn_mnist.migrate import graph_ops, keras_cells  # noqa: F401  (registers layers)
  try:
    return keras.models.load_model(model_path)
  # (a crafted or damaged config: Keras raises KeyError for a layer without its name, ...)
  except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
    said = str(e).splitlines()[0] if str(e) else ""
    what = f"{type(e).__name__} {said}" if isinstance(e, (KeyError, AttributeError,
                                                          IndexError)) else said
    raise ConfigError(f"{model_path} is not a readable Keras model ({what}).") from None


def load_checked(model_path, structures):
  """The .keras model at `model_path`, refused unless it takes the network's inputs."""
  from tf_rnn_mnist.migrate import graph_ops
  model = load_model(model_path)
  if graph_ops.is_whole_model(model):
    raise ConfigError(f"{model_path} is a whole model converted from a program's graph: "
                      "verify it with --inputs/--outputs (and the graph: CKPT.meta or "
                      "--graph).")
  from tf_rnn_mnist.migrate.keras_side import recurrent_layers
  for layer in recurrent_layers(model)[0]:
    inner = getattr(layer, "forward_layer", layer)
    if not (inner.return_sequences and inner.return_state):
      raise ConfigError(
          f"{model_path} is not a model `migrate to-keras` wrote: its layer {layer.name!r} "
          "does not return its whole sequence and final states, which a cell-level verify "
          "compares. (The trainer's exports and convert's models are checked by the project's "
          "own tests; to verify a checkpoint, convert it with `migrate to-keras`.)")
  if model.inputs[0].shape[-1] != structures[0].input_size:
    raise ConfigError(f"{model_path} takes inputs of size {model.inputs[0].shape[-1]}; the "
                      f"checkpoint's network takes {structures[0].input_size}.")
  return model


def differences(model, structures, head, x, tf1, source="the model"):
  """[(what, max abs difference)] of the Keras model's and TF1's outputs `tf1` on `x`."""
  from tf_rnn_mnist.migrate.keras_side import run_with_states
  sequence, states, logits = run_with_states(model, x)
  labels = _labels(structures)
  if len(states) != len(labels):
    raise ConfigError(f"{source} returns {len(states)} states where the TF1 graph has "
                      f"{len(labels)}: not the model converted from this checkpoint?")
  rows = [("output sequence", sequence, tf1["output"])]
  rows += [(label, state, tf1[f"state_{k}"]) for k, (label, state) in
           enumerate(zip(labels, states))]
  if head:
    rows.append(("head logits", logits, tf1["logits"]))
  for what, ours, theirs in rows:
    if ours.shape != theirs.shape:
      raise ConfigError(f"{what}: Keras gives shape {list(ours.shape)}, TF1 "
                        f"{list(theirs.shape)}.")
  return [(what, float(np.abs(ours - theirs).max())) for what, ours, theirs in rows]


def compare(checkpoint, structures, head, options, model_path, batch=8, timesteps=28, seed=0):
  """[(what, max abs difference)] of TF1's and the reloaded Keras model's outputs."""
  model = load_checked(model_path, structures)
  x = random_inputs(structures, batch, timesteps, seed)
  with tempfile.TemporaryDirectory() as workdir:
    np.save(os.path.join(workdir, "inputs.npy"), x)
    tf1, = tf1_outputs([spec_io.GraphSpec(tuple(structures), head, options, checkpoint,
                                          os.path.join(workdir, "inputs.npy"),
                                          os.path.join(workdir, "outputs.npz"))], workdir)
  return differences(model, structures, head, x, tf1, model_path)


def report(rows, batch, timesteps, tolerance=TOLERANCE):
  """The lines to print, and whether every difference is within `tolerance`."""
  worst = max(d for _, d in rows)
  lines = [f"verify: TF1 graph vs Keras model on random inputs [{batch}, {timesteps}, ...]"]
  lines += [f"  {what:<60} max |diff| {diff:.2e}" for what, diff in rows]
  ok = worst <= tolerance
  lines.append(f"{'PASS' if ok else 'FAIL'}: largest difference {worst:.2e} "
               f"({'within' if ok else 'above'} {tolerance:g})")
  return lines, ok


CELL_LEVEL_ONLY = "cell-level check only: the model is not proved"
# Exit status of a cell-level pass: not 0, which means proved against the user's own graph.
CELL_LEVEL_EXIT = 3
