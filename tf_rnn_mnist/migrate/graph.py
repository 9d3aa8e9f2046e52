"""A TF1 program's own graph, read from `CKPT.meta` (what `Saver.save` writes beside every
checkpoint) or `--graph=FILE` (.meta, .pb, .pbtxt), and indexed for the walks `migrate` makes:
nodes by name, tensors' producers and consumers, constants' values, the subgraph that lies
between the tensors a user names as the model's inputs and outputs.

Only protobuf parsing and `tf.make_ndarray` are used: nothing of the graph runs here.
"""

import dataclasses
import os
import re


from tf_rnn_mnist.errors import ConfigError

# Ops that hold or read a variable (ref variables: VariableV2 + Identity ".../read";
# resource variables: VarHandleOp + ReadVariableOp).
VARIABLE_OPS = ("VariableV2", "Variable", "VarHandleOp")
PLACEHOLDERS = ("Placeholder", "PlaceholderWithDefault")


def tensor_name(name):
  """'scope/op' or 'scope/op:k' -> 'scope/op:k' (an op's first output when no index)."""
  return name if ":" in name else f"{name}:0"


def split_tensor(name):
  op, _, index = tensor_name(name).rpartition(":")
  return op, int(index)


@dataclasses.dataclass
class Node:
  name: str
  op: str
  inputs: list          # data inputs as 'op:k'
  control: list         # control inputs, op names
  attr: dict            # the NodeDef's AttrValue map
  consumers: list = dataclasses.field(default_factory=list)  # (node name, input index)

  def attr_value(self, key, default=None):
    if key not in self.attr:
      return default
    value = self.attr[key]
    field = value.WhichOneof("value")
    if field == "list":
      lst = value.list
      return list(lst.i) or list(lst.s) or list(lst.f) or list(lst.type) or []
    if field == "s":
      return value.s.decode()
    return getattr(value, field)


class Graph:
  """A GraphDef's nodes, with the meta graph's saver and variables when there is one."""

  def __init__(self, graph_def, source, meta_graph=None):
    self.source, self.meta_graph, self.graph_def = source, meta_graph, graph_def
    self.nodes = {}
    for nd in graph_def.node:
      data = [tensor_name(i) for i in nd.input if not i.startswith("^")]
      control = [i[1:] for i in nd.input if i.startswith("^")]
      self.nodes[nd.name] = Node(nd.name, nd.op, data, control, dict(nd.attr))
    for node in self.nodes.values():
      for index, tensor in enumerate(node.inputs):
        producer = split_tensor(tensor)[0]
        if producer in self.nodes:
          self.nodes[producer].consumers.append((node.name, index))
    self._constants = {}
    # Control flow v2 keeps a loop's body as a function of the graph's library.
    self.library = {f.signature.name: f for f in graph_def.library.function}
    self.active = None  # when set: the only ops consumers() sees (the model's subgraph)

  def has_variables(self):
    return any(n.op in VARIABLE_OPS for n in self.nodes.values())

  def tf_graph(self):
    """The graph imported into TensorFlow (for what only its op registry knows: an op's
    number of outputs)."""
    if getattr(self, "_tf_graph", None) is None:
      self._tf_graph = imported(self.graph_def, self.source)
    return self._tf_graph

  def restrict(self, names):
    """Make consumers() see only the ops `names`: a training graph's gradient and optimizer
    ops read the forward tensors too, and are no part of the model."""
    self.active = set(names)

  def node(self, tensor):
    return self.nodes[split_tensor(tensor)[0]]

  def has(self, tensor):
    op, index = split_tensor(tensor)
    return op in self.nodes

  def consumers(self, tensor, everywhere=False):
    """[(node, input index)] that read `tensor` (within the model's subgraph once
    restricted, unless `everywhere`)."""
    op, index = split_tensor(tensor)
    return [(self.nodes[n], i) for n, i in self.nodes[op].consumers
            if self.nodes[n].inputs[i] == tensor_name(tensor)
            and (everywhere or self.active is None or n in self.active)]

  def dtype(self, tensor):
    """The tensor's dtype as a tf.DType name ('float32', 'int32', ...), or None."""
    import tensorflow as tf
    node = self.node(tensor)
    for key in ("output_type", "out_type", "DstT", "dtype", "T", "Tparams"):
      if key in node.attr and node.attr[key].WhichOneof("value") == "type":
        return tf.dtypes.as_dtype(node.attr[key].type).name
    return None

  def shape(self, tensor):
    """The tensor's static shape as a list (None for an unknown dimension), or None."""
    node = self.node(tensor)
    index = split_tensor(tensor)[1]
    shapes = node.attr.get("_output_shapes")
    if shapes is not None and index < len(shapes.list.shape):
      proto = shapes.list.shape[index]
    elif "shape" in node.attr and index == 0:
      proto = node.attr["shape"].shape
    else:
      return None
    if proto.unknown_rank:
      return None
    return [d.size if d.size >= 0 else None for d in proto.dim]

  def constant(self, tensor):
    """The value of a Const (through Identity ops), or None."""
    node = self.node(tensor)
    while node.op == "Identity" and node.inputs:
      node = self.node(node.inputs[0])
    if node.op != "Const":
      return None
    if node.name not in self._constants:
      import tensorflow as tf
      self._constants[node.name] = tf.make_ndarray(node.attr["value"].tensor)
    return self._constants[node.name]

  def variable_of(self, tensor):
    """The variable node's name a tensor reads (through read/Identity/ReadVariableOp, a loop's
    Enter, a cond's Switch), or None."""
    node = self.node(tensor)
    for _ in range(8):
      if node.op in VARIABLE_OPS:
        return node.name
      if node.op not in ("Identity", "ReadVariableOp", "Enter", "Switch") or not node.inputs:
        return None
      node = self.node(node.inputs[0])
    return None

  def outside_training(self):
    """The names of the ops outside a training graph's gradient, optimizer and saver scopes
    (what a model's ops are, when no outputs are named)."""
    return {n for n in self.nodes if not _TRAINING.search(n)}

  def placeholders(self):
    """The graph's placeholders, but the Saver's and the optimizer's own."""
    return [n for n in self.nodes.values() if n.op in PLACEHOLDERS
            and not _TRAINING.search(n.name)]

  def upstream(self, outputs, stop, values_only=False):
    """The names of every op the tensors `outputs` depend on through data inputs, not going
    past the tensors in `stop` (their producers are not included unless reached otherwise).
    `values_only`: not into a cond Switch's predicate (which chooses, not computes, a value)."""
    seen, todo = set(), [tensor_name(t) for t in outputs]
    stop = {tensor_name(t) for t in stop}
    while todo:
      tensor = todo.pop()
      if tensor in stop:
        continue
      op = split_tensor(tensor)[0]
      if op in seen:
        continue
      seen.add(op)
      node = self.nodes[op]
      todo.extend(node.inputs[:1] if values_only and node.op == "Switch" else node.inputs)
    return seen


_TRAINING = re.compile(r"(^|/)(gradients|clip_by_global_norm|Adam|GradientDescent|Momentum|"
                       r"RMSProp|Adagrad|save|report_uninitialized|init)(_\d+)?(/|$)")
_NOT_OUTPUTS = {"Assign", "AssignAdd", "AssignSub", "NoOp", "Assert", "ApplyAdam",
                "ApplyGradientDescent", "ScalarSummary", "HistogramSummary", "Const",
                "Identity", "Shape", "Exit", "Enter", "Switch", "Merge", "NextIteration"}


_INSIDE_CELL = re.compile(r"(^|/)\w*_cell(_\d+)?/")
_HEADS = {"Softmax", "LogSoftmax", "BiasAdd", "Sigmoid", "Tanh", "Squeeze", "Reshape",
          "Transpose"}


def candidate_outputs(g, limit=16):
  """Float tensors the recurrent cells' outputs flow into and nothing of the model reads
  further (probabilities, logits, final states), outside the training ops."""
  starts = [n for n in g.nodes.values() if n.op == "MatMul" and not _TRAINING.search(n.name)
            and any(g.variable_of(t) for t in n.inputs[1:])
            and g.node(n.inputs[0]).op == "ConcatV2"]
  seen, todo, ends = set(), [f"{n.name}:0" for n in starts], []
  while todo:
    tensor = todo.pop()
    op = split_tensor(tensor)[0]
    if op in seen:
      continue
    seen.add(op)
    forward = [n for n, _ in g.consumers(tensor, everywhere=True)
               if not _TRAINING.search(n.name) and n.op not in ("Assign", "NoOp")]
    node = g.nodes[op]
    in_loop = ("/while/" in op and node.op != "Exit") or _INSIDE_CELL.search(op)
    floating = (g.dtype(tensor) or "").startswith("float")
    leaving_loop = node.op == "Exit" and any("/while/" not in n.name for n in forward) and \
        g.shape(tensor) != []  # (not a TensorArray's flow)
    if not in_loop and floating and (node.op in _HEADS or leaving_loop or node.op ==
                                     "TensorArrayGatherV3" or (not forward and node.op
                                                               not in _NOT_OUTPUTS)):
      ends.append(tensor)
    for n in forward:
      todo.extend(f"{n.name}:{k}" for k in range(max(1, _outputs_of(n))))
  return sorted(ends)[:limit]


def _outputs_of(node):
  return node.attr_value("num") or node.attr_value("num_split") or 1


def is_float(dtype_enum):
  """Whether a DataType enum (an attr's `type`) is a floating-point type."""
  import tensorflow as tf
  return dtype_enum is not None and tf.dtypes.as_dtype(dtype_enum).is_floating


def read_proto(path, message):
  from google.protobuf import text_format
  with open(path, "rb") as f:
    data = f.read()
  try:
    message.ParseFromString(data)
    return message
  except Exception:  # noqa: BLE001  (then it may be the text form)
    message.Clear()
  try:
    text_format.Parse(data.decode("utf-8"), message)
  except UnicodeDecodeError:
    hint = ("; a SavedModel's saved_model.pb is read from its directory (SOURCE=DIR)"
            if os.path.basename(path).startswith("saved_model") else "")
    raise ConfigError(f"{path} is not a {type(message).__name__} (binary or text){hint}.") \
        from None
  except text_format.ParseError as e:
    raise ConfigError(f"{path} is not a {type(message).__name__} (binary or text): "
                      f"{str(e).splitlines()[0]}") from None
  return message


def imported(graph_def, source):
  """`graph_def` imported into a new tf.Graph; a graph TensorFlow cannot import (an op it
  does not register: a custom op's library not loaded) is the user's error, said in one line."""
  import tensorflow as tf
  graph = tf.Graph()
  try:
    with graph.as_default():
      tf.graph_util.import_graph_def(graph_def, name="")
  except (ValueError, tf.errors.OpError) as e:
    message = getattr(e, "message", str(e)).strip().splitlines()[0].split(". ")[0]
    raise ConfigError(f"{source}: TensorFlow does not import this graph ({message}).") \
        from None
  return graph


def with_shapes(graph_def, source):
  """`graph_def` with each node's `_output_shapes` (a .meta records them; a GraphDef written
  by write_graph or freezing does not): TensorFlow's own shape inference, by importing it."""
  if all("_output_shapes" in n.attr for n in graph_def.node):
    return graph_def
  return imported(graph_def, source).as_graph_def(add_shapes=True)


def function_body(fdef, what):
  """(GraphDef, {function tensor name: graph tensor name}) of a library function (a control
  flow v2 loop's body, a cond's branch); NotRecognised, naming `what`, when it runs functions
  of its own that TensorFlow's importer cannot read here."""
  from tensorflow.python.framework import function_def_to_graph
  from tf_rnn_mnist.migrate.cell_steps import NotRecognised
  try:
    return function_def_to_graph.function_def_to_graph_def(fdef)
  except ValueError as e:  # (a function inside it: a cond, a loop, a call)
    raise NotRecognised(f"{what} (control flow v2) runs functions of its own "
                        f"({str(e).splitlines()[0]}), which this tool does not convert") from None


def load(path):
  """The Graph in `path`: a MetaGraphDef (.meta, what Saver writes) or a GraphDef (.pb,
  .pbtxt)."""
  from tensorflow.core.framework import graph_pb2
  from tensorflow.core.protobuf import meta_graph_pb2
  if not os.path.isfile(path):
    what = "is a directory" if os.path.isdir(path) else "no such file"
    raise ConfigError(f"--graph={path}: {what} (pass the checkpoint's .meta file, or a "
                      ".pb / .pbtxt GraphDef).")
  if path.endswith(".meta"):
    meta = read_proto(path, meta_graph_pb2.MetaGraphDef())
    if not meta.graph_def.node:
      raise ConfigError(f"{path} holds a MetaGraphDef without a graph.")
    return Graph(meta.graph_def, path, meta)
  graph_def = read_proto(path, graph_pb2.GraphDef())
  if not graph_def.node:
    meta = read_proto(path, meta_graph_pb2.MetaGraphDef())
    if meta.graph_def.node:
      return Graph(meta.graph_def, path, meta)
    raise ConfigError(f"{path} holds no graph nodes (a GraphDef or MetaGraphDef was expected).")
  return Graph(with_shapes(graph_def, path), path)


def find(checkpoint_prefix, graph_flag=None):
  """The graph of a checkpoint: --graph if given, else PREFIX.meta if Saver wrote one, else
  None (the cell-level check is all that can be done then)."""
  if graph_flag:
    return load(graph_flag)
  meta = f"{checkpoint_prefix}.meta"
  return load(meta) if os.path.isfile(meta) else None


def check_tensors(graph, names, flag):
  """The tensors `names` (as 'op:k') exist in `graph`, or a ConfigError naming the flag."""
  out = []
  for name in names:
    op, index = split_tensor(name)
    if op not in graph.nodes:
      near = sorted(n for n in graph.nodes if n.rpartition("/")[2] == op.rpartition("/")[2])[:5]
      hint = f" (ops of that name elsewhere: {', '.join(near)})" if near else ""
      raise ConfigError(f"--{flag}={name}: the graph {graph.source} has no op {op!r}{hint}.")
    count = len(graph.tf_graph().get_operation_by_name(op).outputs)
    if index >= count:
      shown = f":0..:{count - 1}" if count > 1 else ":0"
      raise ConfigError(f"--{flag}={name}: {op} ({graph.nodes[op].op}) has {count} "
                        f"output{'s' if count != 1 else ''} ({shown}).")
    if flag == "feed" and graph.nodes[op].op not in PLACEHOLDERS:
      raise ConfigError(f"--feed={name}: {op} is a {graph.nodes[op].op}, not a placeholder; "
                        "--feed fixes placeholders (keep probabilities, is_training).")
    out.append(tensor_name(name))
  return out


def check_interface(graph, inputs, outputs, feed):
  """Every placeholder the outputs need is given, and every input is needed: refused
  otherwise, before any work."""
  needed = graph.upstream(outputs, stop=list(inputs) + list(feed))
  missing = sorted(n for n in needed if graph.nodes[n].op == "Placeholder")
  if missing:
    raise ConfigError(f"placeholder {missing[0]}:0 feeds the outputs but is in neither "
                      f"--inputs nor --feed (give it as an input, or fix it with "
                      f"--feed={missing[0]}:0=VALUE; a keep probability: 1.0).")
  reached = graph.upstream(outputs, stop=())
  for tensor in inputs:
    if split_tensor(tensor)[0] not in reached:
      raise ConfigError(f"--inputs={tensor}: no --outputs tensor depends on it.")


def describe_tensor(graph, tensor):
  shape = graph.shape(tensor)
  shown = "?" if shape is None else "[" + ", ".join("?" if d is None else str(d)
                                                    for d in shape) + "]"
  return f"{tensor} {graph.dtype(tensor) or '?'} {shown}"
