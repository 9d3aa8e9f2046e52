"""A whole TF1 model as a Keras 3 model: the subgraph between the tensors the user names as
inputs and outputs, translated op by op, each recurrent call becoming one `TF1Recurrent`.

Every op on the way is accounted for: a recurrent call's ops by its cells, wrappers and loop
bookkeeping (rnn_calls.py), each other op by one Keras layer (graph_ops.py), ops whose inputs
are all constants folded at conversion time. An op with no translation is refused with its
name and type, with every other such op of the subgraph: nothing is silently dropped.
"""

import dataclasses
import re
import types

import keras
import numpy as np

from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.migrate import (conversion_notes, graph_ops, ops, recognise, rnn_calls,
                                  wrappers)
from tf_rnn_mnist.migrate import conds
from tf_rnn_mnist.migrate.conds import Conds
from tf_rnn_mnist.migrate.cell_steps import NotRecognised
from tf_rnn_mnist.migrate.graph import PLACEHOLDERS, split_tensor, tensor_name



@dataclasses.dataclass
class Interface:
  inputs: list           # tensor names, the Keras model's inputs in order
  outputs: list          # tensor names, its outputs in order
  feed: dict             # {tensor name: value} fixed placeholders


@dataclasses.dataclass
class Conversion:
  """What to-keras built: the model, the calls it found, what it reports."""
  model: object
  calls: list
  notes: list


def _layer_name(name, taken):
  base = re.sub(r"[^A-Za-z0-9_.-]", ".", name)
  candidate, k = base, 1
  while candidate in taken:
    candidate, k = f"{base}_{k}", k + 1
  taken.add(candidate)
  return candidate


def _cell_spec(run):
  """A cell of a TF1Recurrent's config: the TF1 cell (its kind, scope and sizes, what to-tf1
  writes back) and the settings the graph runs it with (what its Keras cell computes)."""
  cell = run.cell
  return {"tf1_kind": cell.kind.name, "tf1_scope": cell.scope, "input_size": cell.input_size,
          "units": cell.units, "num_proj": cell.num_proj, "peepholes": cell.peepholes,
          "reset_after": cell.reset_after,
          **run.settings, "residual": run.residual, "tf1_class": cell.describe_class()}


class Translator:
  """Walks the subgraph from the outputs back to the inputs, building Keras tensors."""

  def __init__(self, g, arrays, interface, calls):
    self.g, self.arrays, self.interface = g, arrays, interface
    self.values = {}        # tensor -> ("keras", t) | ("const", array) | ("var", name)
    self.taken = set()
    self.keras_inputs = []
    self.refused = []
    self.placed = []        # (keras layer, assign weights callable)
    self.call_of = {}
    self.dropouts = []
    self.conds = Conds(g, interface.feed, interface.inputs)
    for call in calls:
      for tensor in self._call_outputs(call):
        self.call_of[tensor] = call

  @staticmethod
  def _call_outputs(call):
    outs = call.outputs if isinstance(call.outputs, list) else [call.outputs]
    return outs + [s for s in call.states if s]

  def build_inputs(self):
    for tensor in self.interface.inputs:
      shape = self.g.shape(tensor)
      if shape is None or not shape:
        raise ConfigError(f"--inputs={tensor}: the graph gives it no known rank; a model "
                          "input needs one (name a tensor of known rank).")
      dtype = self.g.dtype(tensor)
      layer = keras.Input(shape=tuple(shape[1:]), batch_size=shape[0], dtype=dtype,
                          name=_layer_name(split_tensor(tensor)[0], self.taken))
      self.keras_inputs.append(layer)
      self.values[tensor] = ("keras", layer)

  def value(self, tensor):
    tensor = tensor_name(tensor)
    if tensor not in self.values:
      self.values[tensor] = ("refused", tensor)  # (a loop's cycle ends here)
      self.values[tensor] = self._compute(tensor)
    return self.values[tensor]

  def _compute(self, tensor):
    g = self.g
    if tensor in self.interface.feed:
      dtype = g.dtype(tensor) or "float32"
      return ("const", np.asarray(self.interface.feed[tensor], dtype=dtype))
    if tensor in self.call_of:
      self._place_call(self.call_of[tensor])
      return self.values[tensor]
    node = g.node(tensor)
    if self.conds.dead(tensor):
      return ("dead", tensor)
    if node.op == "Const":
      return ("const", g.constant(tensor))
    if node.op in ("Switch", "Merge") and not self.conds.in_loop(node):
      return self._cond(node, tensor)
    variable = g.variable_of(tensor)
    if variable is not None:
      if variable not in self.arrays:
        raise ConfigError(f"the graph reads variable {variable}, which the checkpoint does "
                          "not hold.")
      return ("var", variable)
    if node.op == "Rank" and g.shape(node.inputs[0]) is not None:
      return ("const", np.asarray(len(g.shape(node.inputs[0])), np.int32))
    if node.op == "PlaceholderWithDefault":
      return self.value(node.inputs[0])
    if node.op in PLACEHOLDERS:
      raise ConfigError(f"the outputs depend on placeholder {tensor}, which is neither in "
                        f"--inputs nor in --feed (give it as an input, or fix it with "
                        f"--feed={tensor}=VALUE).")
    if node.op in ("Identity", "Snapshot", "StopGradient"):
      return self.value(node.inputs[0])
    if wrappers.dropout_group(node.name):
      # tf.nn.dropout outside the cells: identity at inference (keep probability fed 1).
      try:
        data, evidence, _ = wrappers.through_dropout(g, tensor)
      except NotRecognised:
        data = None
      if data is not None and evidence is not None:
        self.dropouts.append(evidence)
        return self.value(data)
    reason = self._refusal(node, tensor)
    if reason is not None:
      self.refused.append((node, reason))
      for t in node.inputs:  # on, so that every such op is listed, not only the last
        self.value(t)
      return ("refused", node.name)
    if node.op in ("BiasAdd", "Add", "AddV2") and self._fusable_dense(node):
      return self._dense(node, fused_bias=True)
    args = [self.value(t) for t in node.inputs]
    if any(a[0] == "refused" for a in args):
      return ("refused", node.name)
    if node.op in ("GatherV2", "ResourceGather", "Gather") and args[0][0] == "var" and \
        (len(args) < 3 or args[2][0] == "const" and int(args[2][1]) == 0):
      return self._embedding(node, args)
    if node.op == "MatMul" and args[1][0] == "var" and args[0][0] == "keras" and \
        args[0][1].shape[-1] is not None and \
        not node.attr_value("transpose_a") and not node.attr_value("transpose_b"):
      return self._dense(node)
    return self._op(node, args, tensor)

  def _cond(self, node, tensor):
    """A Switch's taken output is its data; a Merge is the one input not dead."""
    if node.op == "Switch":
      if self.conds.predicate(node) is None:
        predicate = node.inputs[1]
        scope = split_tensor(predicate)[0].rpartition("/")[0] or node.name
        if not any(n.name == scope for n, _ in self.refused):  # (one line per cond)
          self.refused.append((types.SimpleNamespace(name=scope, op="tf.cond"), (
              f"its predicate {predicate} is computed from the model's inputs; a cond converts "
              "when its predicate is known: constants, or a placeholder fixed with --feed or "
              "left at its default")))
        return ("refused", node.name)
      self.conds.note(node)
      return self.value(node.inputs[0])
    if split_tensor(tensor)[1] == 1:  # value_index: which input arrived
      live = [k for k, t in enumerate(node.inputs) if not self.conds.dead(t)]
      if len(live) != 1:
        self.refused.append((node, "its value_index, where the branch taken is not known"))
        return ("refused", node.name)
      return ("const", np.asarray(live[0], np.int32))
    live = [t for t in node.inputs if not self.conds.dead(t)]
    if len(live) != 1:
      for t in live:
        self.value(t)  # (on, so that the predicate's refusal names the cond)
      if not self.refused:
        self.refused.append((node, "a Merge with more than one live input (not a tf.cond)"))
      return ("refused", node.name)
    return self.value(live[0])

  def _refusal(self, node, tensor):
    """Why `tensor` of `node` is not converted, or None."""
    if node.op in wrappers.RANDOM_OPS:  # (folded, a mask would be fixed forever)
      return "random: a sampling or dropout op this tool does not recognise"
    if node.op in conds.IF_OPS:
      return (f"a tf.cond (control flow v2) on {node.inputs[0]}, which is computed from the "
              "model's inputs; a cond converts when its predicate is known: constants, or a "
              "placeholder fixed with --feed or left at its default")
    if node.op == "ResourceGather":
      return None  # (an embedding lookup: _embedding)
    reason = ops.refusal(node.op, self._attrs(node))
    if reason is None and split_tensor(tensor)[1] >= self._outputs(node):
      reason = f"its output {split_tensor(tensor)[1]} (the Keras model computes output 0 only)"
    return reason

  @staticmethod
  def _attrs(node):
    return ops.node_attrs(node) if node.op in ops.OPS else {}

  def _outputs(self, node):
    """How many outputs of `node` the Keras model computes (1 for an op without handler)."""
    return ops.output_count(node.op, self._attrs(node)) if node.op in ops.OPS else 1

  def _fusable_dense(self, node):
    g = self.g
    matmul = g.node(node.inputs[0])
    bias = g.variable_of(node.inputs[1])
    # (consumers within the model: a training graph's gradients read the MatMul too)
    return (matmul.op == "MatMul" and bias is not None and
            len(g.consumers(f"{matmul.name}:0")) == 1 and
            g.variable_of(matmul.inputs[1]) is not None and
            not matmul.attr_value("transpose_a") and not matmul.attr_value("transpose_b") and
            self.arrays[bias].ndim == 1)

  def _embedding(self, node, args):
    name = args[0][1]
    table = self.arrays[name]
    layer = graph_ops.TF1Embedding(table.shape[0], table.shape[1], tf1_name=name,
                                   name=_layer_name(name.rpartition("/")[0] or name, self.taken))
    ids = args[1]
    if ids[0] != "keras":
      raise ConfigError(f"{node.name}: an embedding lookup of constant ids is not a model.")
    out = layer(ids[1])
    self.placed.append((layer, [table]))
    return ("keras", out)

  def _dense(self, node, fused_bias=False):
    g = self.g
    matmul = g.node(node.inputs[0]) if fused_bias else node
    kernel = g.variable_of(matmul.inputs[1])
    bias = g.variable_of(node.inputs[1]) if fused_bias else None
    x = self.value(matmul.inputs[0])
    if x[0] != "keras" or x[1].shape[-1] is None:  # (Dense needs its input's width)
      return self._op(node, [self.value(t) for t in node.inputs], f"{node.name}:0")
    weights = [self.arrays[kernel]] + ([self.arrays[bias]] if bias else [])
    layer = graph_ops.TF1Dense(weights[0].shape[1], tf1_names=[kernel, bias],
                               use_bias=bool(bias),
                               name=_layer_name(kernel.rpartition("/")[0] or kernel,
                                                self.taken))
    out = layer(x[1])
    self.placed.append((layer, weights))
    return ("keras", out)

  def _op(self, node, args, tensor):
    if any(a[0] == "refused" for a in args):
      return ("refused", node.name)
    if all(a[0] in ("const", "var") for a in args):
      # A function of constants and weights only (a transposed embedding, say): folded.
      values = [a[1] if a[0] == "const" else self.arrays[a[1]] for a in args]
      result = ops.run_op(node.op, self._attrs(node), values)
      return self._output(node, tensor, result, folded=True)
    constants = {i: a[1] for i, a in enumerate(args) if a[0] == "const"}
    weights_at = {i: {"name": a[1], "shape": list(self.arrays[a[1]].shape),
                      "dtype": str(self.arrays[a[1]].dtype)}
                  for i, a in enumerate(args) if a[0] == "var"}
    layer = graph_ops.TF1Op(node.op, self._attrs(node), len(args), constants, weights_at,
                            outputs=self._outputs(node), tf1_name=node.name,
                            name=_layer_name(node.name, self.taken))
    inputs = [a[1] for a in args if a[0] == "keras"]
    result = layer(inputs if len(inputs) != 1 else inputs[0])
    self.placed.append((layer, [self.arrays[w["name"]] for _, w in sorted(weights_at.items())]))
    return self._output(node, tensor, result)

  def _output(self, node, tensor, result, folded=False):
    kind = "const" if folded else "keras"
    convert = (lambda v: keras.ops.convert_to_numpy(v)) if folded else (lambda v: v)
    if isinstance(result, (list, tuple)):
      for k, item in enumerate(result):
        self.values[f"{node.name}:{k}"] = (kind, convert(item))
      return self.values[tensor]
    return (kind, convert(result))

  def _place_call(self, call):
    if call.kind == "dynamic":
      sequence = self.value(call.sequence)
    else:
      steps = [self.value(t) for t in call.sequence]
      if any(s[0] != "keras" for s in steps):
        raise ConfigError(f"static_rnn {call.scope}: an input step is not computed from "
                          "the model's inputs.")
      pack = graph_ops.TF1Op("Pack", {"axis": 0}, len(steps),
                             name=_layer_name(f"{call.scope}/stack_steps", self.taken))
      sequence = ("keras", pack([s[1] for s in steps]))
    inputs = [sequence]
    if call.lengths:
      inputs.append(self.value(call.lengths))
    if call.mask:
      inputs.append(self.value(call.mask))
    inputs += [self.value(t) for _, t in sorted(call.initial.items())]
    if any(i[0] == "refused" for i in inputs):
      for t in self._call_outputs(call):
        self.values[t] = ("refused", call.scope)
      return
    if any(i[0] != "keras" for i in inputs):
      raise ConfigError(f"recurrent call {call.scope}: its input, lengths or initial state "
                        "is a constant; name the tensors it is computed from in --inputs.")
    specs = [_cell_spec(run) for run in call.cells]
    layer = graph_ops.TF1Recurrent(specs, with_lengths=bool(call.lengths),
                                   initial_states=sorted(call.initial), tf1_scope=call.scope,
                                   with_mask=bool(call.mask),
                                   zero_output_for_mask=call.zero_output_for_mask,
                                   name=_layer_name(call.scope, self.taken))
    outputs = layer([i[1] for i in inputs] if len(inputs) > 1 else inputs[0][1])
    weights = []
    for run in call.cells:
      arrays = {role: self.arrays[name] for role, name in run.cell.variables().items()}
      weights += run.cell.kind.to_keras(run.cell, arrays, run.settings.get("forget_bias", 0.0))
    self.placed.append((layer, weights))
    sequence_out, states = outputs[0], outputs[1:]
    if call.kind == "dynamic":
      self.values[call.outputs] = ("keras", sequence_out)
    else:
      unpack = graph_ops.TF1Op("Unpack", {"num": len(call.outputs), "axis": 0}, 1,
                               outputs=len(call.outputs),
                               name=_layer_name(f"{call.scope}/unstack_steps", self.taken))
      for tensor, step in zip(call.outputs, unpack(sequence_out)):
        self.values[tensor] = ("keras", step)
    for tensor, state in zip(call.states, states):
      if tensor:  # (None: a final state the outputs do not need)
        self.values[tensor] = ("keras", state)


def convert(g, reader_shapes, arrays, interface):
  """The Conversion of the subgraph between `interface`'s inputs and outputs."""
  cells, _ = recognise.find_cells({n: tuple(s) for n, s in reader_shapes.items()})
  stop = list(interface.inputs) + list(interface.feed)
  needed = g.upstream(interface.outputs, stop=stop)
  g.restrict(needed)
  _check_variables(g, needed, arrays)
  try:
    g, if_notes = conds.inline_ifs(g, interface.feed, interface.inputs)
    if if_notes:  # (control flow v2's conds: the branches taken, inlined)
      g.restrict(g.upstream(interface.outputs, stop=stop))
    calls = rnn_calls.find_calls(g, list(cells.values()))
  except NotRecognised as e:
    raise ConfigError(f"refused: {e}.") from None
  translator = Translator(g, arrays, interface, calls)
  translator.build_inputs()
  outputs = [translator.value(t) for t in interface.outputs]
  if translator.refused:
    raise ConfigError(conversion_notes.refusal(translator.refused))
  for tensor, out in zip(interface.outputs, outputs):
    if out[0] == "dead":
      raise ConfigError(f"--outputs={tensor} lies on a branch of a tf.cond the fed values do "
                        "not take.")
    if out[0] != "keras":
      raise ConfigError(f"--outputs={tensor} does not depend on --inputs (it is a constant "
                        "of the graph).")
  model = keras.Model(translator.keras_inputs if len(translator.keras_inputs) > 1
                      else translator.keras_inputs[0],
                      [o[1] for o in outputs] if len(outputs) > 1 else outputs[0][1],
                      name="migrated")
  for layer, weights in translator.placed:
    if isinstance(layer, graph_ops.TF1Recurrent):
      flat = layer.rnn.cell.cells
      offset = 0
      for cell in flat:
        count = len(cell.weights)
        cell.set_weights(weights[offset:offset + count])
        offset += count
    elif weights:
      layer.set_weights(weights)
  notes = conversion_notes.call_notes(calls) + conversion_notes.shared_notes(
      translator.placed) + [
      f"dropout {d['where']}: identity in the Keras model (inference); "
      f"{wrappers.rate_said(d)}" for d in translator.dropouts] + sorted(
      translator.conds.choices.values()) + if_notes
  return Conversion(model, calls, notes)


def _check_variables(g, needed, arrays):
  """Every variable the outputs read is in the checkpoint with the graph's shape."""
  for name in sorted(needed):
    node = g.nodes[name]
    if node.op not in ("VariableV2", "VarHandleOp"):
      continue
    if name not in arrays:
      raise ConfigError(f"the graph reads variable {name}, which the checkpoint does not "
                        "hold: not this graph's checkpoint?")
    declared = node.attr_value("shape")
    shape = [d.size for d in declared.dim] if declared is not None else None
    if shape is not None and list(arrays[name].shape) != shape:
      raise ConfigError(f"the graph's {name} is {shape}, the checkpoint's "
                        f"{list(arrays[name].shape)}: not this graph's checkpoint.")

