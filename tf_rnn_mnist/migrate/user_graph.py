"""The user's own graph, run: its MetaGraphDef imported (or GraphDef: a frozen graph runs as it
is), its checkpoint restored, fed inputs drawn to fit it. Verify's reference, and nothing of
our own reading: the one change made is the one a training graph needs to infer, its built-in
dropouts bypassed (each op's output rerouted to its input, in a copy of the GraphDef)."""

import numpy as np

from tf_rnn_mnist.errors import ConfigError

_SEARCH_THROUGH = ("Identity", "Transpose", "Reshape", "Cast", "StridedSlice", "ExpandDims",
                   "Squeeze", "Unpack", "Pack", "ReverseSequence", "ReverseV2")


def reroutes(bypass):
  """{output: the tensor its readers read instead} of `bypass` [(output, input)]: through
  a chain of bypassed ops (one dropout straight after another) to the first one's input."""
  from tf_rnn_mnist.migrate.graph import tensor_name
  reroute = {tensor_name(out): tensor_name(data) for out, data in bypass}
  for out in reroute:
    while reroute[out] in reroute:
      reroute[out] = reroute[reroute[out]]
  return reroute


def bypassed(graph_def, bypass):
  """A copy of `graph_def` in which every reader of a tensor `out` of `bypass` [(out, data)]
  reads `data` instead."""
  from tensorflow.core.framework import graph_pb2
  from tf_rnn_mnist.migrate.graph import tensor_name
  copy = graph_pb2.GraphDef()
  copy.CopyFrom(graph_def)
  reroute = reroutes(bypass)
  for node in copy.node:
    for k, name in enumerate(node.input):
      if not name.startswith("^") and tensor_name(name) in reroute:
        node.input[k] = reroute[tensor_name(name)]
  return copy


class UserGraph:
  """The user's graph `g` in a TF1 session, `checkpoint` restored (None: a frozen graph, which
  holds its weights), the dropouts `bypass` [(output, input)] rerouted; a SavedModel's
  `assets` {tensor: path} fed to its initialisers."""

  def __init__(self, g, checkpoint, bypass=(), assets=None):
    import tensorflow as tf
    self.graph = tf.Graph()
    self.not_restored = []
    with self.graph.as_default():
      saver = self._import(g, bypass)
      self.session = tf.compat.v1.Session(graph=self.graph)
      if checkpoint is None:
        if saver is not None:
          raise ConfigError(f"{g.source} holds variables, and no checkpoint was given to "
                            "restore them from.")
      else:
        self._restore(g, saver, checkpoint)
      self._initialise(g, assets or {})

  def _initialise(self, g, assets):
    """Lookup tables (a vocabulary), and a SavedModel's main op, as a server runs them."""
    import tensorflow as tf
    # (a SavedModel's main op initialises its tables itself: run twice, a table refuses)
    ops = (self.graph.get_collection("saved_model_main_op")[:1] or
           self.graph.get_collection("legacy_init_op")[:1] or
           [tf.compat.v1.tables_initializer()])
    try:
      self.session.run(ops, assets)
    except (tf.errors.OpError, ValueError) as e:
      raise ConfigError(f"the program's graph {g.source} does not initialise its tables or "
                        f"main op ({tf_message(e)}).") from None

  def _import(self, g, bypass):
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2
    graph_def = bypassed(g.graph_def, bypass) if bypass else g.graph_def
    try:
      if g.meta_graph is not None:
        meta = meta_graph_pb2.MetaGraphDef()
        meta.CopyFrom(g.meta_graph)
        meta.graph_def.CopyFrom(graph_def)
        return tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
      tf.graph_util.import_graph_def(graph_def, name="")
    except (ValueError, tf.errors.OpError) as e:
      raise ConfigError(f"{g.source}: TensorFlow does not import this graph "
                        f"({tf_message(e)}).") from None
    names = [n.name for n in g.nodes.values() if n.op in ("VariableV2", "VarHandleOp")]
    return tf.compat.v1.train.Saver(
        {n: self.graph.get_tensor_by_name(f"{n}:0") for n in names}) if names else None

  def _restore(self, g, saver, checkpoint):
    import tensorflow as tf
    # What tf.compat.v1.train.checkpoint_exists does, without its deprecation notice.
    if not (tf.io.gfile.glob(checkpoint + ".index") or tf.io.gfile.glob(checkpoint)):
      raise ConfigError(f"{checkpoint} is not a readable TF checkpoint (no such prefix).")
    if saver is None:
      raise ConfigError(f"{g.source} holds no variables to restore {checkpoint} into (a "
                        "frozen graph is the whole source: pass it as SOURCE).")
    try:
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


def _reached(g, tensor, found, depth=6):
  """The first (node, index) `found(node, index)` accepts among what reads `tensor`
  (through reshapes), or None."""
  frontier = [tensor]
  for _ in range(depth):
    nxt = []
    for t in frontier:
      for node, index in g.consumers(t, everywhere=True):
        if found(node, index):
          return node
        if node.op in _SEARCH_THROUGH:
          nxt.append(f"{node.name}:0")
    frontier = nxt
  return None


def embedding_lookup(g, tensor):
  """The Gather that looks the ids `tensor` up in an embedding variable, or None."""
  def gather(node, index):
    shape = g.shape(node.inputs[0]) if node.inputs else None
    return (node.op in ("GatherV2", "Gather", "ResourceGather") and index == 1
            and g.variable_of(node.inputs[0]) is not None and bool(shape and shape[0]))
  return _reached(g, tensor, gather)


def _feeds_lengths(g, tensor):
  """Whether `tensor` reaches (through reshapes) what a recurrent call takes as lengths:
  dynamic_rnn's `sequence_length`, a ReverseSequence's lengths, static_rnn's Max of them."""
  return _reached(g, tensor, lambda node, index: (
      node.name.rpartition("/")[2] == "sequence_length" or
      node.op == "ReverseSequence" and index == 1 or node.op == "Max")) is not None


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
    lookup = embedding_lookup(g, tensor)
    if lookup is not None:
      values[tensor] = rng.integers(0, g.shape(lookup.inputs[0])[0], shape).astype(dtype)
    elif len(shape) == 1 or _feeds_lengths(g, tensor):  # lengths (of [batch * words] too)
      lengths = rng.integers(1, time + 1, shape)
      lengths.reshape(-1)[0] = time
      lengths.reshape(-1)[-1] = max(1, time // 2)
      values[tensor] = lengths.astype(dtype)
    else:
      values[tensor] = rng.integers(0, 2, shape).astype(dtype)
  return values


def layouts(g, interface):
  """Ways to size the inputs' unknown dimensions, {(tensor, axis): "batch" | "time"}, most
  likely first (batch-major)."""
  import itertools
  unknown = [(t, k) for t in interface.inputs for k, d in enumerate(g.shape(t)) if d is None]
  first = {(t, k): "batch" if k == 0 else "time" for t, k in unknown}
  yield first
  for roles in itertools.islice(itertools.product(("batch", "time"), repeat=len(unknown)), 32):
    choice = dict(zip(unknown, roles))
    if choice != first:
      yield choice


def fixed_time(g, interface):
  """The time axis the graph fixes on a sequence input (axis 1 of [batch, time, features] or
  [batch, time] ids), or None; never a feature width (nor a state's [batch, units], nor an
  image's height)."""
  fixed = [shape[1] for t, shape in ((t, g.shape(t) or []) for t in interface.inputs)
           if (len(shape) == 3 or len(shape) == 2 and not (g.dtype(t) or "float").startswith(
               ("float", "bfloat", "half"))) and shape[1] and shape[1] > 1]
  return fixed[0] if fixed else None


def tf_message(error):
  """The line of a TensorFlow error that says what went wrong (not its traceback)."""
  lines = [l.strip() for l in getattr(error, "message", str(error)).splitlines()]
  lines = [l for l in lines if l and not l.startswith(("Detected at node", "File ", "[[", "("))
           and "Graph execution error" not in l and not l.endswith("(most recent call last):")]
  return lines[0] if lines else type(error).__name__


def _nudged(g, user, interface, inputs, feed):
  """The feed moved by 1 ulp: float inputs, and for ids what their embedding returns (a
  1-ulp change of an integer id is no change)."""
  moved = {t: (np.nextafter(v, np.inf).astype(v.dtype) if v.dtype.kind == "f" else v)
           for t, v in inputs.items()}
  lookups = [embedding_lookup(g, t) for t in interface.inputs if inputs[t].dtype.kind != "f"]
  tensors = sorted({f"{n.name}:0" for n in lookups if n is not None})
  if tensors:
    looked_up = user.run(tensors, feed)
    moved.update({t: np.nextafter(v, np.inf).astype(v.dtype)
                  for t, v in zip(tensors, looked_up)})
  return {**feed, **moved}


def graph_reference(user, g, interface, batch, time, seed=0, layout=None):
  """(inputs, outputs, outputs again, outputs 1 ulp away, layout) of the user's graph on
  inputs it accepts: its outputs on the same inputs once more (randomness) and on inputs 1 ulp
  away (sensitivity). The time axis is the graph's own where it fixes one, else `time`; the
  layout the first the graph runs, or only `layout` when given."""
  import tensorflow as tf
  needed = g.upstream(interface.outputs, stop=list(interface.inputs) + list(interface.feed))
  lacking = [v for v in user.not_restored if v in needed]
  if lacking:
    raise ConfigError(f"the checkpoint lacks {', '.join(lacking[:3])}, which the outputs "
                      "read.")
  for tensor in interface.inputs:
    if (g.dtype(tensor) or "float32") in ("string", "variant", "resource"):
      raise ConfigError(f"--inputs={tensor} is a {g.dtype(tensor)} tensor (a serialized "
                        "tf.Example, say): name the tensors the model computes from it.")
  last = None
  fixed = [] if layout is not None else [t for t in [fixed_time(g, interface)] if t]
  tries = [(size, choice) for size in dict.fromkeys(fixed + [time])
           for choice in ([layout] if layout is not None else layouts(g, interface))]
  for size, choice in tries:
    dims = {t: {} for t in interface.inputs}
    for (t, k), role in choice.items():
      dims[t][k] = batch if role == "batch" else size
    rng = np.random.default_rng(seed)
    inputs = input_values(g, interface, {"batch": batch, "time": size, "dims": dims}, rng)
    feed = {**inputs, **interface.feed}
    try:
      outputs = user.run(list(interface.outputs), feed)
    except (tf.errors.OpError, ValueError) as e:
      last = e
      continue
    again = user.run(list(interface.outputs), feed)
    moved = user.run(list(interface.outputs), _nudged(g, user, interface, inputs, feed))
    return inputs, outputs, again, moved, choice
  raise ConfigError(f"the program's graph does not run on inputs of batch {batch} and time "
                    f"{time} in any layout tried ({tf_message(last)}); pass "
                    "--batch/--timesteps.")
