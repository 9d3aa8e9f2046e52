"""The forms a TF1 model ships in, each resolved once from the SOURCE argument into a `Source`:

- `CheckpointSource`: a checkpoint prefix (or a directory with a `checkpoint` file) and the
  program's graph (PREFIX.meta, or --graph: .meta, .pb, .pbtxt), or no graph at all;
- `FrozenSource`: a frozen GraphDef (.pb / .pbtxt, what freeze_graph and
  convert_variables_to_constants write): its weights are constants. They are thawed back into
  variables of the same names, so that the cell kinds recognise them as they recognise a
  checkpoint's, and the Keras model gets them as weights;
- `SavedModelSource`: a TF1 SavedModel directory (saved_model.pb + variables/): the meta graph
  of --tag, the inputs and outputs of --signature.

Each gives the graph the converter reads, the variables' values, and the reference verify
runs: the user's own graph, as the source holds it (the frozen GraphDef itself, the SavedModel's
meta graph restored from its own variables), never a graph rebuilt from our reading.
"""

import dataclasses
import os

from tf_rnn_mnist.errors import ConfigError, OutputError
from tf_rnn_mnist.migrate import graph as graph_lib
from tf_rnn_mnist.migrate.tf1_checkpoints import open_tf1_checkpoint, read_tf1_tensors

ACCEPTED = ("a checkpoint prefix (DIR/model.ckpt-1000, with its .meta or --graph), a directory "
            "holding a `checkpoint` file, a frozen GraphDef (.pb, .pbtxt) or a TF1 SavedModel "
            "directory (saved_model.pb and variables/)")
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


@dataclasses.dataclass
class Signature:
  """A SavedModel signature's tensors, in the order of its keys (saved_model_cli's order)."""
  name: str
  inputs: list
  outputs: list


class Source:
  """What every form gives: `graph` (a graph_lib.Graph, or None), `variables()` and
  `reference(bypass)`."""
  kind = "source"
  signature = None
  whole_only = True   # converted whole only (a checkpoint's cells may be converted alone)
  checkpoint = None   # the prefix the reference restores, or None (frozen weights)

  def __init__(self, path, graph):
    self.path, self.graph = path, graph

  def variables(self):
    """{name: array} of every variable the model may read."""
    raise NotImplementedError

  def shapes(self):
    """{name: shape} of the variables (without reading their values)."""
    return {n: tuple(a.shape) for n, a in self.variables().items()}

  def reference(self, bypass=()):
    """The user's graph in a session, the ops `bypass` names rerouted to their inputs."""
    from tf_rnn_mnist.migrate.user_graph import UserGraph
    return UserGraph(self.graph, self.checkpoint, bypass)

  def describe(self):
    return f"{self.kind} {self.path}"


class CheckpointSource(Source):
  kind = "checkpoint"
  whole_only = False

  def __init__(self, path, graph, prefix):
    super().__init__(path, graph)
    self.checkpoint = prefix

  def reader(self):
    return open_tf1_checkpoint(self.checkpoint)

  def variables(self):
    reader = self.reader()
    return read_tf1_tensors(reader, list(reader.get_variable_to_shape_map()), self.checkpoint)

  def shapes(self):
    return {n: tuple(s) for n, s in self.reader().get_variable_to_shape_map().items()}


class FrozenSource(Source):
  kind = "frozen graph"

  def __init__(self, path, frozen, thawed, weights):
    super().__init__(path, thawed)
    self.frozen, self.weights = frozen, weights

  def variables(self):
    return dict(self.weights)

  def reference(self, bypass=()):
    from tf_rnn_mnist.migrate.user_graph import UserGraph
    return UserGraph(self.frozen, None, bypass)


class SavedModelSource(CheckpointSource):
  kind = "SavedModel"
  whole_only = True

  def __init__(self, path, graph, prefix, tag, signature):
    super().__init__(path, graph, prefix)
    self.tag, self.signature = tag, signature

  def reference(self, bypass=()):
    """As tf.compat.v1.saved_model.loader.load serves it: variables restored, its assets
    (a vocabulary's file) fed from assets/ and its main op run."""
    from tf_rnn_mnist.migrate.user_graph import UserGraph
    assets = {}
    for asset in self.graph.meta_graph.asset_file_def:
      assets[asset.tensor_info.name] = os.path.join(self.path, "assets", asset.filename)
    return UserGraph(self.graph, self.checkpoint, bypass, assets)


# ---------------------------------------------------------------------------------------------
# Frozen weights: which constants were variables.

# The operand a layer's weight takes: a MatMul's or a convolution's second input, a BiasAdd's
# bias, a batch norm's scale/offset/mean/variance, a Gather's params, the fused cells' weights
# and biases (their peepholes, when used, are variables read as such).
_WEIGHT_OPERANDS = {"MatMul": (1,), "Conv2D": (1,), "DepthwiseConv2dNative": (1,),
                    "BiasAdd": (1,), "GatherV2": (0,), "Gather": (0,),
                    "FusedBatchNorm": (1, 2, 3, 4), "FusedBatchNormV3": (1, 2, 3, 4),
                    "BlockLSTM": (4, 8), "BlockLSTMV2": (4, 8), "LSTMBlockCell": (3, 7),
                    "GRUBlockCell": (2, 3, 4, 5), "GRUBlockCellV2": (2, 3, 4, 5)}
# What a weight passes through on its way to the op: freezing's read, a loop's Enter, a cond.
_PASSED_THROUGH = ("Identity", "Enter", "Switch")


def _was_variable(g, node):
  """A float Const of rank >= 1 that freezing made of a variable: read through the Identity
  freeze_graph keeps ('NAME/read', or a ReadVariableOp turned Identity), or used where a layer
  takes its weight (the reads removed by optimize_for_inference; inside a loop, through its
  Enter)."""
  if node.op != "Const" or not graph_lib.is_float(node.attr_value("dtype")):
    return False
  if len(node.attr["value"].tensor.tensor_shape.dim) == 0:
    return False
  todo, seen = [f"{node.name}:0"], set()
  while todo:
    tensor = todo.pop()
    for consumer, index in g.consumers(tensor, everywhere=True):
      if consumer.op == "Identity" and (consumer.name == f"{node.name}/read"
                                        or "ReadVariableOp" in consumer.name):
        return True
      if index in _WEIGHT_OPERANDS.get(consumer.op, ()):
        return True
      if consumer.op in _PASSED_THROUGH and consumer.name not in seen:
        seen.add(consumer.name)
        todo.append(f"{consumer.name}:0")
  return False


def thaw(g):
  """(a Graph whose frozen weights are VariableV2 nodes of the same names, {name: value})."""
  import tensorflow as tf
  from tensorflow.core.framework import graph_pb2
  weights = {n.name: g.constant(f"{n.name}:0") for n in g.nodes.values() if _was_variable(g, n)}
  thawed = graph_pb2.GraphDef()
  thawed.CopyFrom(g.graph_def)
  for node in thawed.node:
    if node.name in weights:
      value = weights[node.name]
      node.op = "VariableV2"
      del node.attr["value"]
      node.attr["shape"].shape.CopyFrom(tf.TensorShape(value.shape).as_proto())
      node.attr["container"].s = b""
      node.attr["shared_name"].s = b""
  return graph_lib.Graph(graph_lib.with_shapes(thawed, g.source), g.source), weights


# ---------------------------------------------------------------------------------------------
# Resolving SOURCE.

def resolve(path, graph_flag=None, tag="serve", signature="serving_default"):
  """The Source at `path`, or one line naming what was found there and what is accepted."""
  if not os.path.exists(path) and not _checkpoint_files(path):
    raise ConfigError(f"{path}: no such file, directory or checkpoint prefix; SOURCE is "
                      f"{ACCEPTED}.")
  if os.path.isfile(path) and os.path.basename(path) in SAVED_MODEL_FILES:
    path = os.path.dirname(path) or "."
  if is_saved_model(path):
    return _saved_model(path, graph_flag, tag, signature)
  if os.path.isfile(path) and path.endswith((".pb", ".pbtxt", ".meta")):
    return _graph_file(path, graph_flag)
  return _checkpoint(path, graph_flag)


def _checkpoint_files(prefix):
  return os.path.isfile(f"{prefix}.index") or os.path.isfile(prefix + ".meta")


def _checkpoint(path, graph_flag):
  prefix = path
  if os.path.isdir(path):
    import tensorflow as tf
    prefix = tf.train.latest_checkpoint(path)
    if prefix is None:
      found = ", ".join(sorted(os.listdir(path))[:5]) or "nothing"
      what = ("whose `checkpoint` file names no checkpoint that exists"
              if os.path.isfile(os.path.join(path, "checkpoint")) else
              "without a `checkpoint` file or saved_model.pb")
      raise ConfigError(f"{path} is a directory {what} (it holds {found}); SOURCE is "
                        f"{ACCEPTED}.")
  elif not os.path.isfile(f"{prefix}.index"):
    what = "a file" if os.path.isfile(path) else "no checkpoint"
    raise ConfigError(f"{path} is {what}, not a checkpoint prefix ({prefix}.index does not "
                      f"exist); SOURCE is {ACCEPTED}.")
  open_tf1_checkpoint(prefix)  # (a corrupt index: said here, by name)
  g = graph_lib.find(prefix, graph_flag)
  if g is not None and not g.has_variables():
    raise ConfigError(f"{g.source} has no variables to restore {prefix} into: a frozen "
                      f"graph is the whole source (pass {g.source} as SOURCE, without the "
                      "checkpoint).")
  return CheckpointSource(path, g, prefix)


def _graph_file(path, graph_flag):
  """A .pb / .pbtxt given as SOURCE: a frozen graph (weights as constants); a graph with
  variables needs its checkpoint as SOURCE and the file as --graph."""
  if graph_flag:
    raise ConfigError(f"SOURCE {path} is a graph file and --graph={graph_flag} another: a "
                      "frozen graph is the whole source; a graph with variables goes in "
                      "--graph, its checkpoint prefix as SOURCE.")
  g = graph_lib.load(path)
  if g.has_variables():
    raise ConfigError(f"{path} is a graph with variables, not a frozen one: pass its "
                      f"checkpoint prefix as SOURCE and {path} as --graph.")
  return _frozen(path, g)


def _frozen(path, g):
  thawed, weights = thaw(g)
  if not weights:
    raise ConfigError(f"{path} is a graph without variables and without weight constants "
                      "(a MatMul's, a convolution's or an embedding's): no model to convert.")
  return FrozenSource(path, g, thawed, weights)


def _saved_model(directory, graph_flag, tag, signature_name):
  from tensorflow.core.protobuf import saved_model_pb2
  if graph_flag:
    raise ConfigError(f"--graph={graph_flag} with a SavedModel source: the SavedModel holds "
                      "its own graph (choose it with --tag and --signature).")
  name = next(f for f in SAVED_MODEL_FILES if os.path.isfile(os.path.join(directory, f)))
  proto = graph_lib.read_proto(os.path.join(directory, name), saved_model_pb2.SavedModel())
  tags = [sorted(m.meta_info_def.tags) for m in proto.meta_graphs]
  wanted = sorted(t.strip() for t in tag.split(","))  # (as loader.load: the exact set)
  chosen = [m for m in proto.meta_graphs if sorted(m.meta_info_def.tags) == wanted]
  if not chosen:
    raise ConfigError(f"{directory}: no meta graph tagged {tag!r} (its tag sets: {tags}); "
                      "choose one with --tag (several tags: --tag=serve,gpu).")
  meta = chosen[0]
  signature = _signature(directory, meta, signature_name)
  g = graph_lib.Graph(meta.graph_def, f"{directory} [{tag}]", meta)
  _refuse_object_graph(g, directory, signature)
  prefix = os.path.join(directory, "variables", "variables")
  if not os.path.isfile(f"{prefix}.index"):
    if g.has_variables():
      raise ConfigError(f"{directory}: its graph has variables but {prefix}.index does not "
                        "exist (an incomplete SavedModel).")
    frozen = _frozen(directory, g)
    frozen.kind, frozen.signature = "SavedModel (frozen weights)", signature
    return frozen
  open_tf1_checkpoint(prefix)
  return SavedModelSource(directory, g, prefix, tag, signature)


def _signature(directory, meta, name):
  if name not in meta.signature_def:
    known = ", ".join(sorted(meta.signature_def)) or "none"
    raise ConfigError(f"{directory}: no signature {name!r} (its signatures: {known}); choose "
                      "one with --signature.")
  sig = meta.signature_def[name]
  return Signature(name, [sig.inputs[k].name for k in sorted(sig.inputs)],
                   [sig.outputs[k].name for k in sorted(sig.outputs)])


def _refuse_object_graph(g, directory, signature):
  """A TF2 SavedModel (tf.saved_model.save) computes its signatures in functions, called
  from the graph; this tool reads TF1 graphs (its ops in the graph itself)."""
  for tensor in signature.inputs + signature.outputs:
    if not g.has(tensor):
      raise ConfigError(f"{directory}: signature {signature.name!r} names {tensor}, which its "
                        "graph does not hold.")
  calls = {"StatefulPartitionedCall", "PartitionedCall"}
  if any(g.node(t).op in calls for t in signature.outputs):
    raise ConfigError(f"{directory} is a TF2 SavedModel (tf.saved_model.save: signature "
                      f"{signature.name!r} calls a function); this tool converts TF1 "
                      "SavedModels (tf.compat.v1.saved_model.Builder, simple_save, "
                      "Estimator.export_saved_model).")


def is_saved_model(path):
  return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, f))
                                     for f in SAVED_MODEL_FILES)


def write_saved_model(original, arrays, directory):
  """A copy of the SavedModel `original` at `directory` (a new one) with the variables
  `arrays` in place of its own: its graph, signatures and assets kept. The Source of it."""
  import shutil
  import tensorflow as tf
  from tf_rnn_mnist.migrate.tf1_checkpoints import write_tf1_checkpoint
  if not isinstance(original, SavedModelSource):
    raise ConfigError(f"{original.path} holds no variables (frozen weights): to-tf1 writes "
                      "a SavedModel only from one with variables.")
  if os.path.exists(directory):
    raise ConfigError(f"--output={directory} exists; to-tf1 writes a SavedModel into a new "
                      "directory.")
  held = original.variables()
  for name in sorted(arrays):
    if name not in held or held[name].shape != arrays[name].shape:
      found = f"is {list(held[name].shape)} there" if name in held else "is not one of them"
      raise ConfigError(f"the model's variable {name} {list(arrays[name].shape)} {found} "
                        f"({original.path}'s variables): not the model converted from this "
                        "SavedModel?")
  staged = f"{directory.rstrip(os.sep)}.partial"
  shutil.rmtree(staged, ignore_errors=True)
  try:
    os.makedirs(os.path.join(staged, "variables"))
    for name in os.listdir(original.path):
      if name != "variables":
        copy = shutil.copytree if os.path.isdir(os.path.join(original.path, name)) else \
            shutil.copy2
        copy(os.path.join(original.path, name), os.path.join(staged, name))
    write_tf1_checkpoint({**held, **arrays}, os.path.join(staged, "variables", "variables"))
    checkpoint_state = os.path.join(staged, "variables", "checkpoint")
    if os.path.exists(checkpoint_state):  # (a SavedModel's variables/ holds none)
      os.remove(checkpoint_state)
    os.replace(staged, directory)
  except (OSError, shutil.Error, tf.errors.OpError) as e:  # (disk full, a size limit)
    from tf_rnn_mnist.migrate.user_graph import tf_message
    shutil.rmtree(staged, ignore_errors=True)
    raise OutputError(f"Could not write the SavedModel {directory} ({tf_message(e)}); nothing "
                      "was written.") from None
  return resolve(directory, None, original.tag, original.signature.name)
