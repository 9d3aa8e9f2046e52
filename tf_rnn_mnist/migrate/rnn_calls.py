"""The recurrent calls of a TF1 graph (`dynamic_rnn`'s while loop, `static_rnn`'s unrolled
chain), read from the ops the program itself built: which cells run in which order, TF1's
run-time settings as the graph holds them (forget_bias, cell_clip, proj_clip, activation),
the wrappers around each cell (DropoutWrapper, ResidualWrapper), `sequence_length`, and the
tensors where each call starts and ends.

A step of a cell is matched from its kernel's MatMul along the ops the TF1 cell class builds
(`rnn_cell_impl` of TF 1.15: BasicLSTMCell, LSTMCell with peepholes / projection / clips,
GRUCell); then every op between the step's inputs and outputs must be one the match
visited, so an op the tool does not understand inside a cell is refused, never dropped.
"""

import dataclasses
import re

from tf_rnn_mnist.migrate.graph import split_tensor

ADDS = ("Add", "AddV2")
ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu", "Sigmoid": "sigmoid", "Elu": "elu",
               "Relu6": "relu6", "Softsign": "softsign"}
# Ops of a while loop's frame and of dynamic_rnn's bookkeeping that compute no model value.
LOOP_MACHINERY = {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "Less",
                  "LogicalAnd", "Identity", "TensorArrayReadV3", "TensorArrayWriteV3",
                  "GreaterEqual", "Const", "Select", "SelectV2", "AddV2", "Add", "Maximum",
                  "Minimum"}


class NotRecognised(ValueError):
  """The graph does something here the tool does not convert; the message says what."""


@dataclasses.dataclass
class Step:
  """One application of one cell: its boundary tensors, settings and the ops it covers."""
  cell: object           # structures.Cell
  x: str
  h_prev: str
  c_prev: str | None
  new_h: str
  new_c: str | None
  settings: dict
  ops: set


@dataclasses.dataclass
class CellRun:
  """A cell as one call runs it: settings from the graph, its wrappers."""
  cell: object
  settings: dict
  residual: bool = False
  keep_probs: list = dataclasses.field(default_factory=list)  # [(where, tensor or value)]


@dataclasses.dataclass
class RecurrentCall:
  """One dynamic_rnn or static_rnn call. `sequence` is the time-major input tensor (dynamic)
  or the per-step inputs (static); `outputs` the time-major output tensor (dynamic) or the
  per-step outputs (static); `states` the final state tensors in TF1's flat order."""
  scope: str
  kind: str
  cells: list
  sequence: object
  outputs: object
  states: list
  lengths: str | None
  initial: dict          # {flat state position: tensor} for states that do not start at zero
  ops: set


def _consumers(g, tensor, types):
  return [n for n, _ in g.consumers(tensor) if n.op in types]


def _one(g, tensor, types, what, where, check=None):
  found = [n for n in _consumers(g, tensor, types) if check is None or check(n)]
  if len(found) != 1:
    raise NotRecognised(f"{where}: expected one {what} reading {tensor}, found "
                        f"{len(found)} ({', '.join(n.name for n in found) or 'none'})")
  return found[0]


def _other(node, tensor):
  ins = node.inputs
  return ins[1] if ins[0] == tensor else ins[0]


def _const_operand(g, node):
  for index, tensor in enumerate(node.inputs):
    value = g.constant(tensor)
    if value is not None:
      return float(value), node.inputs[1 - index]
  return None, None


def _clip(g, tensor, claimed):
  """(clipped tensor, clip value or None): clip_by_value(t, -v, v) is Minimum then Maximum."""
  for low in _consumers(g, tensor, ("Minimum",)):
    value, _ = _const_operand(g, low)
    highs = _consumers(g, f"{low.name}:0", ("Maximum",))
    if value is not None and len(highs) == 1:
      lower, _ = _const_operand(g, highs[0])
      if lower is not None and lower == -value:
        claimed |= {low.name, highs[0].name}
        return f"{highs[0].name}:0", value
  return tensor, None


def _variable_input(g, node, index):
  return g.variable_of(node.inputs[index])


def _peephole(g, gate, var, claimed, where):
  """The Add of `gate` and `var * c`: (its output, c)."""
  for add in _consumers(g, gate, ADDS):
    mul = g.node(_other(add, gate))
    if mul.op == "Mul" and any(g.variable_of(t) == var for t in mul.inputs):
      c = next(t for t in mul.inputs if g.variable_of(t) != var)
      claimed |= {add.name, mul.name}
      return f"{add.name}:0", c
  raise NotRecognised(f"{where}: no peephole {var} found on the gate")


def lstm_step(g, matmul, cell):
  """The Step of a TF1 LSTM cell (BasicLSTMCell, LSTMCell) from its kernel's MatMul."""
  where = cell.scope
  claimed = {matmul.name}
  concat = g.node(matmul.inputs[0])
  if concat.op != "ConcatV2" or len(concat.inputs) != 3:
    raise NotRecognised(f"{where}: the kernel's MatMul does not read concat([inputs, h])")
  claimed.add(concat.name)
  x, h_prev = concat.inputs[:2]
  bias_add = _one(g, f"{matmul.name}:0", ("BiasAdd",), "BiasAdd", where)
  split = _one(g, f"{bias_add.name}:0", ("Split",), "Split into 4 gates", where)
  claimed |= {bias_add.name, split.name}
  i, j, f, o = (f"{split.name}:{k}" for k in range(4))
  forget = _one(g, f, ADDS, "forget-bias Add", where,
                lambda n: _const_operand(g, n)[0] is not None)
  forget_bias = _const_operand(g, forget)[0]
  claimed.add(forget.name)
  f_pre, c_prev, i_pre = f"{forget.name}:0", None, i
  variables = cell.variables()
  if cell.peepholes:
    f_pre, c_prev = _peephole(g, f_pre, variables["w_f_diag"], claimed, where)
    i_pre, _ = _peephole(g, i, variables["w_i_diag"], claimed, where)
  sig_f = _one(g, f_pre, ("Sigmoid",), "Sigmoid of the forget gate", where)
  mul_f = _one(g, f"{sig_f.name}:0", ("Mul",), "Mul by c", where)
  c_prev = c_prev or _other(mul_f, f"{sig_f.name}:0")
  sig_i = _one(g, i_pre, ("Sigmoid",), "Sigmoid of the input gate", where)
  act_j = _one(g, j, tuple(ACTIVATIONS), "activation of j", where)
  mul_i = _one(g, f"{sig_i.name}:0", ("Mul",), "Mul of i and j", where)
  new_c_node = _one(g, f"{mul_f.name}:0", ADDS, "Add making the new c", where)
  claimed |= {sig_f.name, mul_f.name, sig_i.name, act_j.name, mul_i.name, new_c_node.name}
  new_c, cell_clip = _clip(g, f"{new_c_node.name}:0", claimed)
  o_pre = o
  if cell.peepholes:
    o_pre, _ = _peephole(g, o, variables["w_o_diag"], claimed, where)
  sig_o = _one(g, o_pre, ("Sigmoid",), "Sigmoid of the output gate", where)
  act_c = _one(g, new_c, (act_j.op,), f"{act_j.op} of the new c", where)
  new_h_node = _one(g, f"{act_c.name}:0", ("Mul",), "Mul making the new h", where)
  claimed |= {sig_o.name, act_c.name, new_h_node.name}
  new_h, proj_clip = f"{new_h_node.name}:0", None
  if cell.num_proj:
    projection = _one(g, new_h, ("MatMul",), "projection MatMul", where)
    claimed.add(projection.name)
    new_h, proj_clip = _clip(g, f"{projection.name}:0", claimed)
  settings = dict(forget_bias=forget_bias, cell_clip=cell_clip, proj_clip=proj_clip,
                  activation=ACTIVATIONS[act_j.op])
  return Step(cell, x, h_prev, c_prev, new_h, new_c, settings,
              _checked(g, claimed, [new_h, new_c], [x, h_prev, c_prev], where))


def gru_step(g, matmul, cell):
  """The Step of a TF1 GRUCell from its gates kernel's MatMul."""
  where = cell.scope
  concat = g.node(matmul.inputs[0])
  if concat.op != "ConcatV2" or len(concat.inputs) != 3:
    raise NotRecognised(f"{where}: the gates MatMul does not read concat([inputs, h])")
  x, h_prev = concat.inputs[:2]
  bias_add = _one(g, f"{matmul.name}:0", ("BiasAdd",), "BiasAdd", where)
  sigmoid = _one(g, f"{bias_add.name}:0", ("Sigmoid",), "Sigmoid of the gates", where)
  split = _one(g, f"{sigmoid.name}:0", ("Split",), "Split into r, u", where)
  r, u = f"{split.name}:0", f"{split.name}:1"
  r_h = _one(g, r, ("Mul",), "r * h", where, lambda n: _other(n, r) == h_prev)
  concat_1 = _one(g, f"{r_h.name}:0", ("ConcatV2",), "concat([inputs, r * h])", where,
                  lambda n: n.inputs[0] == x)
  candidate = _one(g, f"{concat_1.name}:0", ("MatMul",), "candidate MatMul", where)
  bias_add_1 = _one(g, f"{candidate.name}:0", ("BiasAdd",), "candidate BiasAdd", where)
  act = _one(g, f"{bias_add_1.name}:0", tuple(ACTIVATIONS), "candidate activation", where)
  u_h = _one(g, u, ("Mul",), "u * h", where, lambda n: _other(n, u) == h_prev)
  one_minus_u = _one(g, u, ("Sub",), "1 - u", where)
  u_c = _one(g, f"{one_minus_u.name}:0", ("Mul",), "(1 - u) * c", where)
  new_h = _one(g, f"{u_h.name}:0", ADDS, "Add making the new h", where,
               lambda n: _other(n, f"{u_h.name}:0") == f"{u_c.name}:0")
  claimed = {n.name for n in (matmul, concat, bias_add, sigmoid, split, r_h, concat_1,
                              candidate, bias_add_1, act, u_h, one_minus_u, u_c, new_h)}
  settings = dict(activation=ACTIVATIONS[act.op])
  return Step(cell, x, h_prev, None, f"{new_h.name}:0", None, settings,
              _checked(g, claimed, [f"{new_h.name}:0"], [x, h_prev], where))


def _checked(g, claimed, outputs, inputs, where):
  """`claimed`, once every op between the step's inputs and outputs is in it (or reads a
  variable or a constant)."""
  between = g.upstream(outputs, stop=inputs)
  stray = sorted(n for n in between - claimed
                 if g.nodes[n].op not in ("Const", "Enter", "Identity", "VariableV2",
                                          "VarHandleOp", "ReadVariableOp"))
  if stray:
    raise NotRecognised(f"{where}: ops inside the cell that no TF1 cell class builds: "
                        + ", ".join(f"{n} ({g.nodes[n].op})" for n in stray[:8]))
  return claimed | {n for n in between if g.nodes[n].op in ("Const",)}


def step_at(g, matmul, cells_by_kernel):
  cell = cells_by_kernel[g.variable_of(matmul.inputs[1])]
  return gru_step(g, matmul, cell) if cell.kind == "tf1_gru" else lstm_step(g, matmul, cell)


def kernel_matmuls(g, cells):
  """{kernel variable: Cell} and every MatMul that applies one of those kernels."""
  by_kernel = {}
  for cell in cells:
    if cell.kind in ("tf1_lstm", "tf1_gru"):
      by_kernel[cell.variables()["kernel" if cell.kind == "tf1_lstm" else "gates/kernel"]] = cell
  # (A training graph's gradients read the kernel too, transposed: not a step.)
  matmuls = [n for n in g.nodes.values() if n.op == "MatMul" and len(n.inputs) == 2
             and g.variable_of(n.inputs[1]) in by_kernel
             and not n.attr_value("transpose_a") and not n.attr_value("transpose_b")
             and (g.active is None or n.name in g.active)]
  return by_kernel, matmuls


# ---------------------------------------------------------------------------------------------
# Wrappers between cells: DropoutWrapper (identity at keep probability 1) and ResidualWrapper.

_DROPOUT_SCOPE = re.compile(r"(^|/)dropout(_\d+)?/")


def dropout_group(name):
  match = list(_DROPOUT_SCOPE.finditer(name))
  return name[:match[-1].end()] if match else None


def _group_output(g, members):
  outside = [f"{n}:0" for n in members
             if any(c.name not in members for c, _ in g.consumers(f"{n}:0"))]
  return outside[0] if len(outside) == 1 else None


def through_dropout(g, tensor):
  """(the tensor a DropoutWrapper's dropout was applied to, the keep probability's source
  (placeholders, or the constants of a built-in rate), the ops it covers), or
  (tensor, None, set()) when `tensor` is no dropout's output."""
  group = dropout_group(split_tensor(tensor)[0])
  if group is None:
    return tensor, None, set()
  members = {n for n in g.nodes if n.startswith(group)}
  shapes = [g.nodes[n] for n in members if g.nodes[n].op == "Shape"]
  if len(shapes) != 1 or _group_output(g, members) != tensor:
    raise NotRecognised(f"{group}: a dropout this tool does not read (no single Shape of its "
                        "input, or more than one output)")
  data = shapes[0].inputs[0]
  rates = {t for n in members for t in g.nodes[n].inputs
           if split_tensor(t)[0] not in members and t != data and g.constant(t) is None}
  rate_ops = g.upstream(rates, stop=()) if rates else set()
  sources = sorted(n for n in rate_ops if g.nodes[n].op in ("Placeholder",
                                                           "PlaceholderWithDefault"))
  claimed = members | {n for n in rate_ops if g.nodes[n].op in ("Sub", "Enter", "Identity",
                                                               "Const", "Cast")}
  evidence = sources or sorted({float(g.constant(t)) for n in members
                                for t in g.nodes[n].inputs
                                if g.constant(t) is not None and g.constant(t).size == 1})
  return data, {"where": group.rstrip("/"), "keep_from": evidence}, claimed


def dropout_after(g, tensor):
  """The output of the dropout applied to `tensor`, if one is (DropoutWrapper's output or
  state dropout), with its evidence and ops; else (tensor, None, set())."""
  for consumer, _ in g.consumers(tensor):
    group = dropout_group(consumer.name)
    if group is None:
      continue
    members = {n for n in g.nodes if n.startswith(group)}
    out = _group_output(g, members)
    if out is not None:
      before, evidence, claimed = through_dropout(g, out)
      if before == tensor:
        return out, evidence, claimed
  return tensor, None, set()


def strip_dropouts(g, tensor):
  """(tensor before any dropouts, [evidence], ops)."""
  evidence, ops = [], set()
  while True:
    before, found, members = through_dropout(g, tensor)
    if found is None:
      return tensor, evidence, ops
    evidence.append(found)
    ops |= members
    tensor = before


def _slot(step):
  """The scope of the cell's place in its MultiRNNCell as this step's ops are named
  ('.../multi_rnn_cell/cell_0'): wrappers of that place sit beside the cell's own scope."""
  name = split_tensor(step.new_h)[0]
  return name[:name.rfind(f"/{step.cell.cell_name}/")]


def _wrap(g, step, sources):
  """The cell's output after its wrappers: (output, residual, keep-probability evidence, ops).
  `sources` are the tensors on the way from the wire into the cell's input (ResidualWrapper
  adds one of them: the wrapper's own input)."""
  out, chain, keep_probs, ops = step.new_h, [step.new_h], [], set()
  own = re.compile(re.escape(_slot(step)) + r"(_\d+)?/")
  while True:  # output dropouts of this cell's own DropoutWrapper (not the next cell's input)
    after, evidence, claimed = dropout_after(g, out)
    if evidence is None or not own.match(evidence["where"] + "/"):
      break
    keep_probs.append(evidence)
    ops |= claimed
    out = after
    chain.append(out)
  for tensor in chain:
    for add in _consumers(g, tensor, ADDS):
      if _other(add, tensor) in sources:
        return f"{add.name}:0", True, keep_probs, ops | {add.name}
  return out, False, keep_probs, ops


def _is_zero(g, tensor):
  node = g.node(tensor)
  if node.op == "Fill":
    value = g.constant(node.inputs[1])
    return value is not None and float(value) == 0.0
  value = g.constant(tensor)
  return value is not None and not value.any()


def _back_to(g, x, wire):
  """(keep-probability evidence, ops) of the input dropouts between `wire` and a cell's
  input `x`, or None when `x` does not come from `wire` through dropouts only."""
  evidence, ops, passed = [], set(), [x]
  while x != wire:
    x, found, members = through_dropout(g, x)
    if found is None:
      return None
    evidence.append(found)
    ops |= members
    passed.append(x)
  return evidence, ops, passed


def _stack_order(g, steps, first_source, where):
  """The steps of one time step in their MultiRNNCell order, with their wrappers:
  [(step, output, CellRun, ops)]; `first_source` is what the first cell reads."""
  remaining, wire, ordered = list(steps), first_source, []
  while remaining:
    matches = [(step, _back_to(g, step.x, wire)) for step in remaining]
    matches = [(step, found) for step, found in matches if found is not None]
    if len(matches) != 1:
      raise NotRecognised(f"{where}: after {wire} the graph does not continue into exactly "
                          f"one recognised cell (found {len(matches)}); something else runs "
                          "between the cells")
    step, (keep_in, ops_in, passed) = matches[0]
    out, residual, keep_out, ops_out = _wrap(g, step, passed)
    run = CellRun(step.cell, step.settings, residual, keep_in + keep_out)
    ordered.append((step, out, run, ops_in | ops_out))
    remaining.remove(step)
    wire = out
  return ordered


def _flat_states(run_cells):
  """[(cell, 'c' | 'h')] in TF1's flat order of a MultiRNNCell's state."""
  flat = []
  for run in run_cells:
    flat += [(run.cell.scope, "c"), (run.cell.scope, "h")] if run.cell.is_lstm else \
        [(run.cell.scope, "h")]
  return flat


# ---------------------------------------------------------------------------------------------
# dynamic_rnn: a while loop over TensorArrays.

def _loop_prefixes(g):
  """{loop prefix 'SCOPE/while/': frame name} of every while loop in the graph."""
  loops = {}
  for node in g.nodes.values():
    if node.op == "Enter":
      frame = node.attr_value("frame_name")
      loops.setdefault(frame.rpartition("/")[0] + "/", frame)
  return loops


def _loop_vars(g, prefix):
  """[(Merge, Enter input, body Identity, NextIteration input, Exit)] in creation order."""
  merges = sorted((n for n in g.nodes.values() if n.op == "Merge" and
                   re.fullmatch(re.escape(prefix) + r"Merge(_\d+)?", n.name)),
                  key=lambda n: int(n.name.rpartition("_")[2]) if "_" in
                  n.name[len(prefix):] else 0)
  rows = []
  for merge in merges:
    enter, next_iteration = (g.node(t) for t in merge.inputs)
    switch = next(n for n, _ in g.consumers(f"{merge.name}:0", everywhere=True)
                  if n.op == "Switch")
    identity = next(n for n, _ in g.consumers(f"{switch.name}:1", everywhere=True)
                    if n.op == "Identity")
    exits = [n for n, _ in g.consumers(f"{switch.name}:0") if n.op == "Exit"]
    rows.append((merge, enter.inputs[0], f"{identity.name}:0", next_iteration.inputs[0],
                 f"{exits[0].name}:0" if exits else None))
  return rows


def _lengths_of(g, tensor, scope):
  """The user's lengths tensor behind dynamic_rnn's CheckSeqLen / sequence_length copies."""
  node = g.node(tensor)
  while node.name.startswith(scope + "/") and node.op in ("Identity", "Cast", "Enter") \
      and node.inputs:
    tensor = node.inputs[0]
    node = g.node(tensor)
  return tensor


def dynamic_call(g, prefix, steps):
  scope = prefix[:-len("/while/")]
  where = f"dynamic_rnn {scope}"
  reads = [n for n in g.nodes.values() if n.op == "TensorArrayReadV3" and
           n.name.startswith(prefix)]
  writes = [n for n in g.nodes.values() if n.op == "TensorArrayWriteV3" and
            n.name.startswith(prefix)]
  if len(reads) != 1 or len(writes) != 1:
    raise NotRecognised(f"the while loop {prefix} is not a dynamic_rnn loop (it reads "
                        f"{len(reads)} and writes {len(writes)} TensorArrays, dynamic_rnn one "
                        "each): a decoder feeding its outputs back, raw_rnn or a custom "
                        "tf.while_loop, which this tool does not convert")
  scatter = g.node(g.node(reads[0].inputs[2]).inputs[0])
  if scatter.op != "TensorArrayScatterV3":
    raise NotRecognised(f"{where}: the loop does not read a scattered input sequence")
  sequence = scatter.inputs[2]
  ordered = _stack_order(g, steps, f"{reads[0].name}:0", where)
  top = ordered[-1][1]
  written = writes[0].inputs[2]
  lengths, claimed = None, set()
  if g.node(written).op in ("Select", "SelectV2") and g.node(written).inputs[2] == top:
    select = g.node(written)
    condition = g.node(select.inputs[0])
    if condition.op != "GreaterEqual" or not _is_zero(g, g.node(select.inputs[1]).inputs[0]):
      raise NotRecognised(f"{where}: the output is selected by something other than "
                          "sequence_length")
    lengths = _lengths_of(g, g.node(condition.inputs[1]).inputs[0], scope)
  elif written != top:
    raise NotRecognised(f"{where}: the loop writes {written}, not the top cell's output {top}")
  runs = [run for _, _, run, _ in ordered]
  expected = _flat_states(runs)
  produced = {}
  for step, _, run, _ in ordered:
    produced[step.new_h] = (step.cell.scope, "h")
    if step.new_c:
      produced[step.new_c] = (step.cell.scope, "c")
  states, initial, found = [], {}, []
  for merge, start, body, nxt, exit_ in _loop_vars(g, prefix):
    node = g.node(nxt)
    if node.op in ("Select", "SelectV2") and node.inputs[1] == body and lengths:
      nxt = node.inputs[2]
    if nxt in produced:
      found.append(produced[nxt])
      if not _is_zero(g, start):
        initial[len(states)] = start
      states.append(exit_)
  if found != expected:
    raise NotRecognised(f"{where}: the loop carries states {found}, not the cells' own "
                        f"{expected}")
  outputs = [n for n, _ in g.consumers(writes[0].inputs[0])]  # noqa: F841
  gathers = [n for n in g.nodes.values() if n.op == "TensorArrayGatherV3" and
             n.name.startswith(scope + "/") and g.node(n.inputs[0]).name ==
             g.node(g.node(writes[0].inputs[0]).inputs[0]).name]
  if len(gathers) != 1:
    raise NotRecognised(f"{where}: the loop's outputs are not gathered into one sequence")
  stops = [sequence] + ([lengths] if lengths else []) + list(initial.values())
  ops = g.upstream([f"{gathers[0].name}:0"] + [s for s in states if s], stop=stops)
  inner = set().union(*(step.ops | extra for step, _, _, extra in ordered))
  _check_machinery(g, ops - inner, prefix, where)
  return RecurrentCall(scope, "dynamic", runs, sequence, f"{gathers[0].name}:0", states,
                       lengths, initial, ops | claimed)


def _check_machinery(g, ops, prefix, where):
  """Ops of the loop body no cell or wrapper covers must be the loop's own bookkeeping."""
  stray = []
  for name in sorted(ops):
    node = g.nodes[name]
    if not name.startswith(prefix):
      continue
    if node.op in ADDS:
      if not any(g.constant(t) is not None for t in node.inputs):
        stray.append(node)
    elif node.op not in LOOP_MACHINERY or node.op in ("Maximum", "Minimum"):
      stray.append(node)
  if stray:
    raise NotRecognised(f"{where}: the loop computes what no recognised cell or wrapper "
                        "does: " + ", ".join(f"{n.name} ({n.op})" for n in stray[:8]))


# ---------------------------------------------------------------------------------------------
# static_rnn: the cells unrolled, one step after the other.

def _chains(steps):
  """{cell scope: [steps in time order]} from the h each step reads."""
  by_cell = {}
  for step in steps:
    by_cell.setdefault(step.cell.scope, []).append(step)
  chains = {}
  for scope, own in by_cell.items():
    after = {s.h_prev: s for s in own}
    first = [s for s in own if s.h_prev not in {o.new_h for o in own}]
    if len(first) != 1:
      raise NotRecognised(f"static_rnn {scope}: its steps do not form one chain")
    chain = [first[0]]
    while chain[-1].new_h in after:
      chain.append(after[chain[-1].new_h])
    if len(chain) != len(own):
      raise NotRecognised(f"static_rnn {scope}: its steps do not form one chain")
    chains[scope] = chain
  return chains


def static_calls(g, steps):
  """The static_rnn calls the unrolled `steps` make up."""
  chains = _chains(steps)
  outputs_of = {}
  for scope, chain in chains.items():
    for t, step in enumerate(chain):
      outputs_of.setdefault(step.new_h, (scope, t))
  # A chain is stacked above another when its first step reads that chain's first output.
  below = {}
  for scope, chain in chains.items():
    source = strip_dropouts(g, chain[0].x)[0]
    for other, other_chain in chains.items():
      if other != scope:
        out = _wrap(g, other_chain[0], ())[0]
        if source == out or source == other_chain[0].new_h:
          below[scope] = other
  bottoms = [s for s in chains if s not in below]
  calls = []
  for bottom in bottoms:
    stack = [bottom]
    while any(below.get(s) == stack[-1] for s in chains):
      stack.append(next(s for s in chains if below.get(s) == stack[-1]))
    length = {len(chains[s]) for s in stack}
    if len(length) != 1:
      raise NotRecognised(f"static_rnn over {bottom}: its cells run different numbers of steps")
    calls.append(_static_call(g, [chains[s] for s in stack], length.pop()))
  return calls


def _static_call(g, chains, length):
  scope = chains[0][0].cell.scope.split("/")[0]
  where = f"static_rnn {scope}"
  sequence, outputs, ops, runs = [], [], set(), None
  for t in range(length):
    steps = [chain[t] for chain in chains]
    source = strip_dropouts(g, steps[0].x)[0]
    ordered = _stack_order(g, steps, source, where)
    sequence.append(source)
    outputs.append(ordered[-1][1])
    ops |= set().union(*(step.ops | extra for step, _, _, extra in ordered))
    if t and [r.residual for _, _, r, _ in ordered] != [r.residual for r in runs]:
      raise NotRecognised(f"{where}: the wrappers differ from step to step")
    runs = runs or [run for _, _, run, _ in ordered]
    for step, _, _, _ in ordered:
      if t == 0:
        continue
      previous = next(c[t - 1] for c in chains if c[t] is step)
      if step.h_prev != previous.new_h or step.c_prev != previous.new_c:
        raise NotRecognised(f"{where}: {step.cell.scope} does not carry its state from one "
                            "step to the next (sequence_length in a static_rnn is not "
                            "converted)")
  first = [chain[0] for chain in chains]
  last = [chain[-1] for chain in chains]
  states, initial = [], {}
  for step0, step_n in zip(first, last):
    pairs = ([(step0.c_prev, step_n.new_c)] if step0.cell.is_lstm else []) + \
        [(step0.h_prev, step_n.new_h)]
    for start, final in pairs:
      if not _is_zero(g, start):
        initial[len(states)] = start
      else:
        ops |= g.upstream([start], stop=sequence)
      states.append(final)
  return RecurrentCall(scope, "static", runs, sequence, outputs, states, None, initial, ops)


def find_calls(g, cells):
  """Every recurrent call of the graph that runs the checkpoint's `cells`."""
  by_kernel, matmuls = kernel_matmuls(g, cells)
  loops = _loop_prefixes(g)
  in_loop, static = {}, []
  prefix_of = {frame: prefix for prefix, frame in loops.items()}
  for matmul in matmuls:
    step = step_at(g, matmul, by_kernel)
    # The loop a step runs in is the frame its kernel enters, not its name: a cell object
    # shared by two calls (one LSTMCell for both directions) names its ops after the first.
    kernel = g.node(matmul.inputs[1])
    if kernel.op == "Enter":
      in_loop.setdefault(prefix_of[kernel.attr_value("frame_name")], []).append(step)
    else:
      static.append(step)
  calls = [dynamic_call(g, prefix, steps) for prefix, steps in in_loop.items()]
  if static:
    calls += static_calls(g, static)
  return calls
