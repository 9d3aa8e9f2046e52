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
  except (OSError, ValueError, TypeError) as e:
    raise ConfigError(f"{model_path} is not a readable Keras model ({e}).") from None


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


# ---------------------------------------------------------------------------------------------
# The whole model against the user's own graph: the program's MetaGraphDef imported, the
# checkpoint restored, both sides fed the same values.

CELL_LEVEL_ONLY = "cell-level check only: the model is not proved"
# Exit status of a cell-level pass: not 0, which means proved against the user's own graph.
CELL_LEVEL_EXIT = 3
_SEARCH_THROUGH = ("Identity", "Transpose", "Reshape", "Cast", "StridedSlice", "ExpandDims",
                   "Squeeze", "Unpack", "Pack", "ReverseSequence", "ReverseV2")


class UserGraph:
  """The user's graph in a TF1 session with the checkpoint restored."""

  def __init__(self, g, checkpoint):
    import tensorflow as tf
    self.graph = tf.Graph()
    with self.graph.as_default():
      if g.meta_graph is not None:
        saver = tf.compat.v1.train.import_meta_graph(g.meta_graph, clear_devices=True)
      else:
        tf.graph_util.import_graph_def(g.graph_def, name="")
        names = [n.name for n in g.nodes.values() if n.op in ("VariableV2", "VarHandleOp")]
        saver = tf.compat.v1.train.Saver(
            {n: self.graph.get_tensor_by_name(f"{n}:0") for n in names}) if names else None
      self.session = tf.compat.v1.Session(graph=self.graph)
      self.not_restored = []
      if not tf.compat.v1.train.checkpoint_exists(checkpoint):
        raise ConfigError(f"{checkpoint} is not a readable TF checkpoint (no such prefix).")
      try:
        if saver is None:
          raise ConfigError(f"{g.source} holds no variables to restore {checkpoint} into.")
        saver.restore(self.session, checkpoint)
      except tf.errors.NotFoundError:
        # A checkpoint to-tf1 wrote holds the model's variables, not the optimizer's: restore
        # what it holds; running a variable it lacks then fails as uninitialised.
        held = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
        present = [v for v in tf.compat.v1.global_variables() if v.op.name in held]
        self.not_restored = [v.op.name for v in tf.compat.v1.global_variables()
                             if v.op.name not in held]
        tf.compat.v1.train.Saver(present).restore(self.session, checkpoint)
      except tf.errors.OpError as e:
        lines = [l.strip() for l in e.message.splitlines() if l.strip()]
        key = next((l for l in lines if "not found in checkpoint" in l or "shape" in l),
                   lines[0] if lines else type(e).__name__)
        raise ConfigError(f"the program's graph {g.source} does not restore {checkpoint}: "
                          f"{key}") from None

  def run(self, fetches, feed):
    return self.session.run(fetches, feed)


def _gather_rows(g, tensor, depth=6):
  """The rows of the embedding variable `tensor` indexes (through reshapes), or None."""
  frontier = [tensor]
  for _ in range(depth):
    nxt = []
    for t in frontier:
      for node, index in g.consumers(t, everywhere=True):
        if node.op in ("GatherV2", "Gather", "ResourceGather") and index == 1:
          variable = g.variable_of(node.inputs[0])
          shape = g.shape(node.inputs[0])
          if variable and shape and shape[0]:
            return shape[0]
        if node.op in _SEARCH_THROUGH:
          nxt.append(f"{node.name}:0")
    frontier = nxt
  return None


def _feeds_lengths(g, tensor, depth=6):
  """Whether `tensor` reaches (through reshapes) what a recurrent call takes as lengths:
  dynamic_rnn's `sequence_length`, a ReverseSequence's lengths, static_rnn's Max of them."""
  frontier = [tensor]
  for _ in range(depth):
    nxt = []
    for t in frontier:
      for node, index in g.consumers(t, everywhere=True):
        if node.name.rpartition("/")[2] == "sequence_length" or \
            node.op == "ReverseSequence" and index == 1 or node.op == "Max":
          return True
        if node.op in _SEARCH_THROUGH:
          nxt.append(f"{node.name}:0")
    frontier = nxt
  return False


def input_values(g, interface, sizes, rng):
  """{tensor: array} for the model's inputs: ids within the embedding's rows, lengths in
  [1, time] with one equal to the time axis and one shorter, floats N(0, 1)."""
  time = sizes["time"]
  values = {}
  for tensor in interface.inputs:
    shape = [sizes["dims"][tensor][k] if d is None else d
             for k, d in enumerate(g.shape(tensor))]
    dtype = np.dtype(g.dtype(tensor))
    if dtype.kind == "f":
      values[tensor] = rng.standard_normal(shape).astype(dtype)
      continue
    rows = _gather_rows(g, tensor)
    if rows:
      values[tensor] = rng.integers(0, rows, shape).astype(dtype)
    elif len(shape) == 1 or _feeds_lengths(g, tensor):  # lengths (of [batch * words] too)
      lengths = rng.integers(1, time + 1, shape)
      lengths.reshape(-1)[0] = time
      lengths.reshape(-1)[-1] = max(1, time // 2)
      values[tensor] = lengths.astype(dtype)
    else:
      values[tensor] = rng.integers(0, 2, shape).astype(dtype)
  return values


def _assignments(g, interface, batch, time):
  """Ways to size the inputs' unknown dimensions, most likely first (batch-major)."""
  import itertools
  unknown = [(t, k) for t in interface.inputs for k, d in enumerate(g.shape(t)) if d is None]
  first = {(t, k): batch if k == 0 else time for t, k in unknown}
  yield first
  for values in itertools.islice(itertools.product((batch, time), repeat=len(unknown)), 32):
    choice = dict(zip(unknown, values))
    if choice != first:
      yield choice


def _tf_message(error):
  """The line of a TensorFlow error that says what went wrong (not its traceback)."""
  lines = [l.strip() for l in getattr(error, "message", str(error)).splitlines()]
  lines = [l for l in lines if l and not l.startswith(("Detected at node", "File ", "[[", "("))
           and "Graph execution error" not in l and not l.endswith("(most recent call last):")]
  return lines[0] if lines else type(error).__name__


def graph_reference(user, g, interface, batch, time, seed=0):
  """(inputs, outputs) of the user's graph on inputs it accepts, its outputs on the same
  inputs once more (randomness) and on inputs 1 ulp away (sensitivity)."""
  import tensorflow as tf
  needed = g.upstream(interface.outputs, stop=list(interface.inputs) + list(interface.feed))
  lacking = [v for v in user.not_restored if v in needed]
  if lacking:
    raise ConfigError(f"the checkpoint lacks {', '.join(lacking[:3])}, which the outputs "
                      "read.")
  last = None
  # The time axis lengths must fit: the graph's own where it fixes a sequence input's time
  # axis (axis 1 of [batch, time, ...] features or [batch, time] ids), else --timesteps;
  # never a feature width (nor a state's [batch, units]).
  fixed = [shape[1] for t, shape in ((t, g.shape(t) or []) for t in interface.inputs)
           if (len(shape) >= 3 or len(shape) == 2 and not (g.dtype(t) or "float").startswith(
               ("float", "bfloat", "half"))) and shape[1] and shape[1] > 1]
  for time, choice in ((t, c) for t in dict.fromkeys(fixed + [time])
                       for c in _assignments(g, interface, batch, t)):
    dims = {t: {} for t in interface.inputs}
    for (t, k), size in choice.items():
      dims[t][k] = size
    rng = np.random.default_rng(seed)
    inputs = input_values(g, interface, {"batch": batch, "time": time, "dims": dims}, rng)
    feed = {**inputs, **{t: v for t, v in interface.feed.items()}}
    try:
      outputs = user.run(list(interface.outputs), feed)
    except (tf.errors.OpError, ValueError) as e:
      last = e
      continue
    again = user.run(list(interface.outputs), feed)
    nudged = {t: (np.nextafter(v, np.inf).astype(v.dtype) if v.dtype.kind == "f" else v)
              for t, v in inputs.items()}
    moved = user.run(list(interface.outputs), {**feed, **nudged})
    return inputs, outputs, again, moved
  message = _tf_message(last)
  raise ConfigError(f"the program's graph does not run on inputs of batch {batch} and time "
                    f"{time} in any layout tried ({message}); pass --batch/--timesteps.")


def compare_graph(user, g, interface, model, batch=8, timesteps=28, seed=0):
  """[(tensor, max |diff|, bound, sensitivity, random)] of the Keras model against the
  user's graph on the same inputs."""
  if len(model.inputs) != len(interface.inputs) or len(model.outputs) != len(
      interface.outputs):
    raise ConfigError(f"the Keras model takes {len(model.inputs)} input(s) and gives "
                      f"{len(model.outputs)} output(s); --inputs names {len(interface.inputs)} "
                      f"and --outputs {len(interface.outputs)}: not the model converted "
                      "with these flags?")
  inputs, reference, again, moved = graph_reference(user, g, interface, batch, timesteps,
                                                    seed)
  ordered = [inputs[t] for t in interface.inputs]
  ours = model(ordered if len(ordered) > 1 else ordered[0], training=False)
  ours = ours if isinstance(ours, (list, tuple)) else [ours]
  rows = []
  for tensor, mine, ref, ref2, nudged in zip(interface.outputs, ours, reference, again, moved):
    mine = np.asarray(mine)
    if mine.shape != ref.shape:
      raise MismatchError(f"{tensor}: the Keras model gives shape {list(mine.shape)}, the "
                          f"program's graph {list(ref.shape)}.")
    ref = ref.astype(np.float64)
    bound = TOLERANCE * max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    rows.append((tensor, float(np.abs(mine - ref).max()) if ref.size else 0.0, bound,
                 float(np.abs(nudged - ref).max()) if ref.size else 0.0,
                 not np.array_equal(ref, ref2.astype(np.float64))))
  return rows, {t: v.shape for t, v in inputs.items()}


def graph_report(rows, shapes, source=None):
  """Lines and whether every output is within its bound, or within the graph's own
  sensitivity to a 1-ulp change of its inputs."""
  shown = ", ".join(f"{t} {list(s)}" for t, s in shapes.items())
  lines = [f"verify: the program's own graph vs the Keras model, inputs {shown}"]
  ok = True
  for tensor, diff, bound, sensitivity, random in rows:
    if random:
      verdict, ok = ("FAIL: the graph gives other values on the same inputs (dropout or "
                     "sampling still on: a keep probability below 1; feed a placeholder one "
                     "1.0 with --feed; one built in as a constant makes this graph random at "
                     "inference)"), False
    elif diff <= bound:
      verdict = "ok"
    elif sensitivity > bound and diff <= 10 * sensitivity:
      verdict = (f"ok within the graph's own sensitivity (a 1-ulp input change moves it "
                 f"{sensitivity:.2e})")
    else:
      verdict, ok = "FAIL", False
    lines.append(f"  {tensor:<56} max |diff| {diff:.2e}  bound {bound:.1e}  "
                 f"1-ulp input change {sensitivity:.2e}  {verdict}")
  worst = max((d for _, d, _, _, _ in rows), default=0.0)
  shown = f" {source}" if source else ""
  lines.append(f"PASS: proved against the program's own graph{shown}, largest difference "
               f"{worst:.2e} (bound 1e-5 * max(1, max|ref|))" if ok else
               f"FAIL: largest difference {worst:.2e}")
  return lines, ok
