"""tf.keras (Keras 2) recurrent layers called in a TF1 session: Keras's own `backend.rnn`
while loop (v1), which reads the time-major inputs and, when the layer has a mask
(`Embedding(mask_zero=True)`), a mask TensorArray, and applies Keras's masking rule each step:

    output = mask ? new output : (zeros if zero_output_for_mask else the previous output)
    state  = mask ? new state  : the previous state

The cell's step is matched by its kind (cells/keras_layers.py: standard_lstm, standard_gru);
here the loop's reads, selects and loop variables are checked to be exactly that rule, and the
call keeps the mask and the zero_output_for_mask choice for Keras 3's RNN, which applies the
same rule.
"""

from tf_rnn_mnist.migrate.cell_steps import NotRecognised
from tf_rnn_mnist.migrate.loop_parts import gathered, is_zero, loop_vars, scattered

SELECTS = ("Select", "SelectV2")


def is_shape_probe(g, step):
  """Keras 2 calls the cell once before its loop to learn the output's shape: its output is
  read by ZerosLike only (the masked loop's first previous output)."""
  readers = [n for n, _ in g.consumers(step.new_h)]
  return bool(readers) and all(n.op == "ZerosLike" for n in readers)


def _read_of(g, tensor):
  """The TensorArrayReadV3 `tensor` is (through Tile: a mask broadcast to the units)."""
  node = g.node(tensor)
  if node.op == "Tile":
    node = g.node(node.inputs[0])
  return node if node.op == "TensorArrayReadV3" else None


def _masked(g, tensor, mask_read, new):
  """(kept, other) when `tensor` is select(mask, new, other); None when it is `new`."""
  node = g.node(tensor)
  if tensor == new:
    return None
  if node.op not in SELECTS or node.inputs[1] != new or \
      _read_of(g, node.inputs[0]) is not mask_read:
    return False
  return node.inputs[2]


def call(g, prefix, steps, stack_order, check_machinery, make_call):
  scope = prefix[:-len("/while/")]
  where = f"tf.keras layer {scope}"
  data, mask_read, write = _arrays(g, prefix, steps, where)
  ordered = stack_order(g, steps, steps[0].x, where)
  written = write.inputs[2]
  zero_output, previous_output = _output_rule(g, written, mask_read, ordered[-1][1], where)
  states, initial = _states(g, prefix, steps[0], written, mask_read, previous_output, where)
  sequence = scattered(g, data, where)
  mask = scattered(g, mask_read, where) if mask_read is not None else None
  output = gathered(g, scope, write, where)
  stops = [sequence] + ([mask] if mask else []) + list(initial.values())
  ops = g.upstream([output] + [s for s in states if s], stop=stops)
  inner = set().union(*(s.ops | extra for s, _, _, extra in ordered))
  check_machinery(g, ops - inner, prefix, where, {"Tile", "ReadVariableOp"})
  return make_call(scope=scope, kind="dynamic", cells=[run for _, _, run, _ in ordered],
                   sequence=sequence, outputs=output, states=states, lengths=None,
                   initial=initial, ops=ops, mask=mask, zero_output_for_mask=zero_output)


def _arrays(g, prefix, steps, where):
  """(the input's read, the mask's read or None, the output's write), at step `time`."""
  reads = [n for n in g.nodes.values() if n.op == "TensorArrayReadV3" and
           n.name.startswith(prefix)]
  writes = [n for n in g.nodes.values() if n.op == "TensorArrayWriteV3" and
            n.name.startswith(prefix)]
  if len(steps) != 1 or len(writes) != 1 or len(reads) not in (1, 2):
    raise NotRecognised(f"{where}: its loop is not Keras's backend.rnn over one cell")
  data = next((r for r in reads if f"{r.name}:0" == steps[0].x), None)
  if data is None:
    raise NotRecognised(f"{where}: the cell does not read the loop's input sequence")
  if writes[0].inputs[1] != data.inputs[1]:
    raise NotRecognised(f"{where}: the loop does not write step `time` of its outputs")
  return data, next((r for r in reads if r is not data), None), writes[0]


def _output_rule(g, written, mask_read, top, where):
  """(zero_output_for_mask, the previous output selected where masked or None)."""
  if mask_read is None:
    if written != top:
      raise NotRecognised(f"{where}: the loop writes {written}, not the cell's output {top}")
    return True, None
  other = _masked(g, written, mask_read, top)
  if not other:
    raise NotRecognised(f"{where}: the output is not Keras's masked select of the cell's")
  return (True, None) if _zeros(g, other) else (False, other)


def _states(g, prefix, step, written, mask_read, previous_output, where):
  """(the loop's Exits of the cell's states in Keras's order, {position: initial state}),
  each state kept where the mask is off, read by the cell from its own loop variable."""
  produced = {step.new_h: "h", **({step.new_c: "c"} if step.new_c else {})}
  previous = {"h": step.h_prev, "c": step.c_prev}
  states, found, initial, carried = [], [], {}, False
  for _, start, body, nxt, exit_ in loop_vars(g, prefix):
    if nxt == written and mask_read is not None:  # the previous output Keras carries
      if previous_output is not None and body != previous_output or not _zeros(g, start):
        raise NotRecognised(f"{where}: the previous output is not the one written, from zeros")
      carried = True
      continue
    target = nxt
    if mask_read is not None:
      if g.node(nxt).op not in SELECTS:
        if nxt in produced:
          raise NotRecognised(f"{where}: a state is not kept where the mask is off")
        continue
      target = g.node(nxt).inputs[1]
      if _masked(g, nxt, mask_read, target) != body:
        raise NotRecognised(f"{where}: a state is not kept where the mask is off")
    if target in produced:
      state = produced[target]
      if previous[state] != body:
        raise NotRecognised(f"{where}: the cell's {state} is not the loop's own")
      found.append(state)
      if not is_zero(g, start):
        initial[len(states)] = start
      states.append(exit_)
  if previous_output is not None and not carried:
    raise NotRecognised(f"{where}: the previous output it selects is not a loop variable")
  if previous_output is not None and initial:
    # Keras 3's JAX backend repeats the initial state at a masked first step where Keras 2
    # gives zeros: no model that computes it on every backend.
    raise NotRecognised(f"{where}: a masked layer that returns its last output, started from "
                        "a given state, is not converted (Keras 3's backends differ there)")
  if found != list(step.cell.kind.states):
    raise NotRecognised(f"{where}: the loop carries {found}, not the cell's "
                        f"{list(step.cell.kind.states)}")
  return states, initial


def _zeros(g, tensor):
  """Zeros entering the loop: a zero constant, or ZerosLike (of the shape probe's output)."""
  node = g.node(tensor)
  while node.op in ("Enter", "Identity"):
    node = g.node(node.inputs[0])
  return node.op == "ZerosLike" or is_zero(g, f"{node.name}:0")
