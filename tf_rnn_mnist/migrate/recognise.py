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

from tf_rnn_mnist.migrate.structures import (PEEPHOLES, TF1_LSTM_NAME, Cell, Head, Inspection,
                                             Layer, Structure)

class NotRecognised(ValueError):
  """Why variables that look like a cell, or cells that look like a network, are not one.
  Raised where it is found, caught where the inspection reports it (find_cells, inspect)."""


# Suffixes of variables an optimizer or a moving average keeps beside each weight.
_SLOT = re.compile(r"/(Adam|Adam_1|Momentum|RMSProp|RMSProp_1|Adagrad|Ftrl|Ftrl_1|"
                   r"ExponentialMovingAverage)$")
# Step counters and Adam's powers, at the top level or inside the model's scopes.
_GLOBAL_STATE = re.compile(r"(^|/)(global_step|beta1_power|beta2_power)(_\d+)?$")
# The scope of any other TF1 cell class (BasicRNNCell's basic_rnn_cell, contrib's ...).
_OTHER_CELL = re.compile(r"(^|/)\w*_cell(_\d+)?$")


def _shape(shapes, name):
  return tuple(shapes[name]) if name in shapes else None


def _tf1_gru(scope, shapes):
  gk, gb = _shape(shapes, f"{scope}/gates/kernel"), _shape(shapes, f"{scope}/gates/bias")
  ck, cb = _shape(shapes, f"{scope}/candidate/kernel"), _shape(shapes, f"{scope}/candidate/bias")
  if not (gk and gb and ck and cb) or len(cb) != 1 or len(gk) != 2:
    raise NotRecognised("a GRUCell needs gates/kernel, gates/bias, candidate/kernel, "
                        "candidate/bias")
  units = cb[0]
  rows = gk[0]
  if gk != (rows, 2 * units) or gb != (2 * units,) or ck != (rows, units) or rows <= units:
    raise NotRecognised(f"GRUCell shapes do not agree (gates/kernel {list(gk)}, gates/bias "
                        f"{list(gb)}, candidate/kernel {list(ck)}, candidate/bias {list(cb)})")
  return Cell("tf1_gru", scope, rows - units, units)


def _tf1_lstm(scope, shapes):
  kernel, bias = _shape(shapes, f"{scope}/kernel"), _shape(shapes, f"{scope}/bias")
  if not bias or len(bias) != 1 or bias[0] % 4 or not kernel or len(kernel) != 2 \
      or kernel[1] != bias[0]:
    raise NotRecognised(f"an LSTM cell needs kernel [in + units, 4 units] and bias [4 units]; "
                        f"found kernel {list(kernel or [])}, bias {list(bias or [])}")
  units = bias[0] // 4
  diags = [_shape(shapes, f"{scope}/{d}") for d in PEEPHOLES]
  if any(diags) and diags != [(units,)] * 3:
    raise NotRecognised(f"peepholes need w_i_diag, w_f_diag, w_o_diag of shape [{units}]")
  projection = _shape(shapes, f"{scope}/projection/kernel")
  if projection and (len(projection) != 2 or projection[0] != units):
    raise NotRecognised(f"projection/kernel must be [{units}, num_proj], not "
                        f"{list(projection)}")
  num_proj = projection[1] if projection else None
  recurrent = num_proj or units
  if kernel[0] <= recurrent:
    raise NotRecognised(f"kernel has {kernel[0]} rows, not more than the {recurrent} "
                        "recurrent ones")
  return Cell("tf1_lstm", scope, kernel[0] - recurrent, units, num_proj, bool(diags[0]))


def _keras_layer(scope, shapes):
  kernel = _shape(shapes, f"{scope}/kernel")
  recurrent = _shape(shapes, f"{scope}/recurrent_kernel")
  bias = _shape(shapes, f"{scope}/bias")
  if not kernel or not bias or len(kernel) != 2 or len(recurrent) != 2:
    raise NotRecognised("a tf.keras recurrent layer needs kernel, recurrent_kernel and bias")
  units = recurrent[0]
  gates = recurrent[1] // units if recurrent[1] % units == 0 else 0
  if gates not in (3, 4) or kernel[1] != recurrent[1]:
    raise NotRecognised(f"kernel {list(kernel)} / recurrent_kernel {list(recurrent)} are "
                        "neither an LSTM (4 units columns) nor a GRU (3 units columns); a "
                        "SimpleRNN?")
  cols = recurrent[1]
  if gates == 4 and bias == (cols,):
    return Cell("keras_lstm", scope, kernel[0], units)
  if gates == 3 and bias in ((cols,), (2, cols)):
    return Cell("keras_gru", scope, kernel[0], units, reset_after=bias == (2, cols))
  raise NotRecognised(f"bias {list(bias)} does not fit kernel {list(kernel)}")


def find_cells(shapes):
  """({scope: Cell}, {scope: reason}) of every cell-like variable set."""
  cells, rejected = {}, {}
  for name in shapes:
    if _SLOT.search(name):
      continue
    scope, _, leaf = name.rpartition("/")
    if leaf == "recurrent_kernel":
      recognise = _keras_layer
    elif name.endswith("/gates/kernel"):
      scope, recognise = scope.rpartition("/")[0], _tf1_gru
    elif leaf == "kernel" and TF1_LSTM_NAME.match(scope.rpartition("/")[2]) \
        and f"{scope}/recurrent_kernel" not in shapes:
      recognise = _tf1_lstm
    else:
      continue
    try:
      cells[scope] = recognise(scope, shapes)
    except NotRecognised as e:
      rejected[scope] = str(e)
  return cells, rejected


def _position(scope, kind):
  """(structure scope, naming, layer index, direction, index in the stack) of a cell."""
  if kind.startswith("keras"):
    parts = scope.split("/")
    if len(parts) > 1 and parts[-1].startswith(("lstm_cell", "gru_cell")):
      parts = parts[:-1]  # TF2's tf.keras puts the cell's own scope inside the layer's
    match = re.match(r"^(forward|backward)_", parts[-1])
    if match and len(parts) > 1:
      return "/".join(parts[:-1]), "keras", 0, "fw" if match.group(1) == "forward" else "bw", 0
    return "/".join(parts), "keras", 0, "fw", 0
  parts = scope.split("/")[:-1]  # without the cell's own name
  stack_index = 0
  if len(parts) >= 2 and parts[-2] == "multi_rnn_cell" and re.fullmatch(r"cell_\d+", parts[-1]):
    stack_index = int(parts[-1][5:])
    parts = parts[:-2]
  if parts and parts[-1] in ("fw", "bw"):
    direction = parts[-1]
    parts = parts[:-1]
    if len(parts) >= 2 and parts[-1] == "bidirectional_rnn" \
        and re.fullmatch(r"cell_\d+", parts[-2]) and stack_index == 0:
      return "/".join(parts[:-2]), "stack_bidirectional", int(parts[-2][5:]), direction, 0
    return "/".join(parts), "bidirectional", 0, direction, stack_index
  return "/".join(parts), "dynamic_rnn", 0, "fw", stack_index


def _group(cells):
  """{(scope, naming): {(layer, direction): {stack index: Cell}}}."""
  groups = {}
  for cell in cells.values():
    scope, naming, layer, direction, index = _position(cell.scope, cell.kind)
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
  if any(c.fused for c in structure.cells) and (len(structure.cells) > 1):
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
        and _shape(shapes, bias_name) == (shape[1],):
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
  unrecognised += [(scope, "a recurrent cell this tool does not convert (it converts LSTM "
                    "and GRU cells)") for scope in other_cells]
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
