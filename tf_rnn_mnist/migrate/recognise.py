"""Recognising the recurrent structures a TF1 checkpoint holds from its variable names and
shapes (structures.py holds what is found).

A cell is recognised by the variables its class creates, never by a guess:
- TF1 LSTM cells: `SCOPE/kernel [in + out, 4U]`, `SCOPE/bias [4U]`, optionally the peepholes
  `w_i_diag, w_f_diag, w_o_diag [U]` and `projection/kernel [U, P]` (then out = P, else U),
  where SCOPE ends in BasicLSTMCell's `basic_lstm_cell`, LSTMCell's (and contrib
  LSTMBlockCell's) `lstm_cell`, or contrib LSTMBlockFusedCell's `lstm_fused_cell`. Other names
  with these two variables may be a dense layer or a plain RNN cell, so they are not taken;
- TF1 GRU cells: `SCOPE/gates/kernel [in + U, 2U]`, `gates/bias`, `candidate/kernel
  [in + U, U]`, `candidate/bias` (any SCOPE: no other layer creates this set);
- tf.keras (Keras 2) LSTM/GRU layers: `SCOPE/kernel [in, G*U]`, `recurrent_kernel [U, G*U]`,
  `bias` (G = 4 LSTM, 3 GRU; a GRU bias of shape [2, 3U] is reset_after=True).
Cells are then grouped by where they sit: `multi_rnn_cell/cell_K` (MultiRNNCell),
`.../fw|bw/...` (bidirectional_dynamic_rnn), `.../cell_K/bidirectional_rnn/fw|bw`
(contrib's stack_bidirectional_dynamic_rnn), `NAME/forward_X|backward_X` (tf.keras
Bidirectional). A group whose sizes do not chain is reported as not recognised, with why.
"""

import re

from tf_rnn_mnist.migrate.cells import KINDS, NotRecognised
from tf_rnn_mnist.migrate.cells.base import shape_of
from tf_rnn_mnist.migrate.structures import Head, Inspection, Layer, Structure

# Suffixes of variables an optimizer or a moving average keeps beside each weight.
_SLOT = re.compile(r"/(Adam|Adam_1|Momentum|RMSProp|RMSProp_1|Adagrad|Ftrl|Ftrl_1|"
                   r"ExponentialMovingAverage)$")
# Step counters and Adam's powers, at the top level or inside the model's scopes.
_GLOBAL_STATE = re.compile(r"(^|/)(global_step|beta1_power|beta2_power)(_\d+)?$")
# The scope of any other TF1 cell class (BasicRNNCell's basic_rnn_cell, contrib's ...).
_OTHER_CELL = re.compile(r"(^|/)\w*_cell(_\d+)?$")


def find_cells(shapes):
  """({scope: Cell}, {scope: reason}) of every variable set a cell kind claims."""
  cells, rejected = {}, {}
  for name in shapes:
    if _SLOT.search(name):
      continue
    for kind in KINDS.values():
      scope = kind.claims(name, shapes)
      if scope is None:
        continue
      try:
        cells[scope] = kind.recognise(scope, shapes)
      except NotRecognised as e:
        rejected[scope] = str(e)
      break
  return cells, rejected


def _position(cell):
  """(structure scope, naming, layer index, direction, index in the stack) of a cell: where
  its kind's API call put its scope."""
  return cell.kind.position(cell.scope)


def _group(cells):
  """{(scope, naming): {(layer, direction): {stack index: Cell}}}."""
  groups = {}
  for cell in cells.values():
    scope, naming, layer, direction, index = _position(cell)
    slot = groups.setdefault((scope, naming), {}).setdefault((layer, direction), {})
    if index in slot:
      raise NotRecognised(cell.scope)
    slot[index] = cell
  return groups


def _ordered(mapping, what):
  keys = sorted(mapping)
  if keys != list(range(len(keys))):
    raise NotRecognised(f"{what} {keys} are not numbered 0..{len(keys) - 1}")
  return [mapping[k] for k in keys]


def _structure(scope, naming, slots):
  """A checked Structure from grouped cells; NotRecognised says why not."""
  bidirectional = naming in ("bidirectional", "stack_bidirectional") or any(
      d == "bw" for _, d in slots)
  if bidirectional and not all((layer, other) in slots for layer, _ in slots
                               for other in ("fw", "bw")):
    raise NotRecognised("a bidirectional layer needs both its fw and its bw cells")
  layers = []
  for index in range(len({layer for layer, _ in slots})):
    if (index, "fw") not in slots:
      raise NotRecognised(f"layer cell_{index} is missing")
    fw = tuple(_ordered(slots[(index, "fw")], "MultiRNNCell cells"))
    bw = tuple(_ordered(slots[(index, "bw")], "MultiRNNCell cells")) if bidirectional else None
    layers.append(Layer(fw, bw))
  structure = Structure(scope, naming, tuple(layers))
  _check_sizes(structure)
  if any(c.kind.whole_sequence for c in structure.cells) and (len(structure.cells) > 1):
    raise NotRecognised("an LSTMBlockFusedCell runs a whole sequence alone; it cannot be stacked "
                        "in a MultiRNNCell or a bidirectional pair")
  return structure


def _check_sizes(structure):
  previous = None
  for layer in structure.layers:
    for stack in (layer.fw, layer.bw or ()):
      if stack and stack[0].input_size != layer.input_size:
        raise NotRecognised(f"{stack[0].scope} takes input {stack[0].input_size}, but its forward "
                            f"twin takes {layer.input_size}")
      for below, above in zip(stack, stack[1:]):
        if above.input_size != below.output_size:
          raise NotRecognised(f"{above.scope} takes input {above.input_size}, but "
                              f"{below.scope} gives {below.output_size}")
    if previous and layer.input_size != previous.output_size:
      raise NotRecognised(f"{layer.fw[0].scope} takes input {layer.input_size}, but the layer "
                          f"below gives {previous.output_size}")
    previous = layer


def _heads(shapes, used):
  """Dense layers (tf.layers.dense: kernel/bias; contrib fully_connected: weights/biases)."""
  heads = []
  for name, shape in shapes.items():
    scope, _, leaf = name.rpartition("/")
    bias_name = f"{scope}/{'bias' if leaf == 'kernel' else 'biases'}"
    if leaf in ("kernel", "weights") and name not in used and len(shape) == 2 \
        and shape_of(shapes, bias_name) == (shape[1],):
      heads.append(Head(name, bias_name, shape[0], shape[1]))
  return heads


def _unknown(name, shapes, rest, outputs):
  """Why `name` was left, with the --head to pass when it may be a bare dense kernel."""
  shape = shapes[name]
  reason = f"shape {list(shape)}: not a variable of an LSTM, GRU or dense layer"
  if len(shape) == 2 and shape[0] in outputs:
    biases = [b for b in rest if shapes[b] == (shape[1],)]
    if len(biases) == 1:
      reason += (f"; if it and {biases[0]} are a dense layer on the last output, pass "
                 f"--head={name},{biases[0]}")
  return reason


def inspect(shapes):
  """An Inspection of a checkpoint's {variable name: shape}."""
  shapes = {name: tuple(shape) for name, shape in shapes.items()}
  cells, rejected = find_cells(shapes)
  unrecognised = [(scope, reason) for scope, reason in rejected.items()]
  structures = []
  try:
    groups = _group(cells)
  except NotRecognised as clash:
    unrecognised.append((str(clash), "two cells claim the same place in one network"))
    groups = {}
  for (scope, naming), slots in sorted(groups.items()):
    try:
      structures.append(_structure(scope, naming, slots))
    except NotRecognised as e:
      for slot in slots.values():
        unrecognised += [(c.scope, f"{c.describe()} not converted: {e}") for c in slot.values()]
  used = {name for s in structures for c in s.cells for name in c.variables().values()}
  used |= {name for scope, _ in unrecognised for name in shapes if name.startswith(scope + "/")}
  optimizer = sorted(n for n in shapes if _SLOT.search(n) or _GLOBAL_STATE.search(n))
  other_cells = sorted({n.rpartition("/")[0] for n in shapes if n not in used
                        and n not in optimizer and _OTHER_CELL.search(n.rpartition("/")[0])})
  classes = ", ".join(sorted({kind.tf1_class for kind in KINDS.values()}))
  unrecognised += [(scope, f"a recurrent cell not recognised by its variables' names (those "
                    f"of {classes} are); whole-model to-keras (--inputs/--outputs) reads what "
                    "the graph runs instead") for scope in other_cells]
  used |= {n for n in shapes if n.rpartition("/")[0] in other_cells}
  outputs = {s.output_size for s in structures}
  dense = _heads(shapes, used)
  heads = [h for h in dense if h.inputs in outputs]
  unrecognised += [(h.kernel.rpartition("/")[0], f"a dense layer [{h.inputs}, {h.outputs}], not "
                    "on a recognised network's output") for h in dense if h not in heads]
  used |= {n for h in dense for n in (h.kernel, h.bias)}
  rest = sorted(n for n in shapes if n not in used and n not in optimizer)
  unrecognised += [(n, _unknown(n, shapes, rest, outputs)) for n in rest]
  return Inspection(tuple(structures), tuple(heads), tuple(optimizer), tuple(unrecognised),
                    shapes)
