"""The recurrent calls of a TF1 graph (`dynamic_rnn`'s while loop, `static_rnn`'s unrolled
chain), read from the ops the program itself built: which cells run in which order, TF1's
run-time settings as the graph holds them (forget_bias, cell_clip, proj_clip, activation),
the wrappers around each cell (DropoutWrapper, ResidualWrapper), `sequence_length`, and the
tensors where each call starts and ends.

Each cell's steps come from cell_steps.py, the wrappers between them from wrappers.py; here
they are chained into calls, and every op of a loop that neither covers must be the loop's
own bookkeeping, or the call is refused.
"""

import dataclasses
import re

from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.migrate import keras_loops, static_lengths, while_v2, wrappers
from tf_rnn_mnist.migrate.loop_parts import gathered, is_zero, loop_vars, scattered
from tf_rnn_mnist.migrate.cell_steps import ADDS, NotRecognised, step_starts

LOOP_MACHINERY = {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "Less",
                  "LogicalAnd", "Identity", "TensorArrayReadV3", "TensorArrayWriteV3",
                  "GreaterEqual", "Const", "Select", "SelectV2", "AddV2", "Add"}


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
  mask: str | None = None          # a Keras mask, time-major [T, B, 1] (keras_loops.py)
  zero_output_for_mask: bool = True  # masked steps output zeros, else the previous output


def _stack_order(g, steps, first_source, where):
  """The steps of one time step in their MultiRNNCell order, with their wrappers:
  [(step, output, CellRun, ops)]; `first_source` is what the first cell reads."""
  remaining, wire, ordered = list(steps), first_source, []
  while remaining:
    matches = [(step, wrappers.back_to(g, step.x, wire)) for step in remaining]
    matches = [(step, found) for step, found in matches if found is not None]
    if len(matches) != 1:
      raise NotRecognised(f"{where}: after {wire} the graph does not continue into exactly "
                          f"one recognised cell (found {len(matches)}); something else runs "
                          "between the cells")
    step, (keep_in, ops_in, passed) = matches[0]
    out, residual, keep_out, ops_out = wrappers.wrap(g, step, passed)
    run = CellRun(step.cell, step.settings, residual, keep_in + keep_out)
    ordered.append((step, out, run, ops_in | ops_out))
    remaining.remove(step)
    wire = out
  return ordered


def _flat_states(run_cells):
  """[(cell, 'c' | 'h')] in TF1's flat order of a MultiRNNCell's state."""
  return [(run.cell.scope, state) for run in run_cells for state in run.cell.kind.states]


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
  # (no write: a graph cut to what its outputs need, a frozen one say, where only the final
  # states are read)
  if len(reads) != 1 or len(writes) > 1:
    raise NotRecognised(f"the while loop {prefix} is not a dynamic_rnn loop (it reads "
                        f"{len(reads)} and writes {len(writes)} TensorArrays, dynamic_rnn one "
                        "each): a decoder feeding its outputs back, raw_rnn or a custom "
                        "tf.while_loop, which this tool does not convert")
  sequence = scattered(g, reads[0], where)
  ordered = _stack_order(g, steps, f"{reads[0].name}:0", where)
  top = ordered[-1][1]
  written = writes[0].inputs[2] if writes else _state_select(g, prefix, top)
  lengths = None
  if g.node(written).op in ("Select", "SelectV2") and g.node(written).inputs[2] == top:
    select = g.node(written)
    condition = g.node(select.inputs[0])
    if condition.op != "GreaterEqual" or writes and not is_zero(
        g, g.node(select.inputs[1]).inputs[0]):
      raise NotRecognised(f"{where}: the output is selected by something other than "
                          "sequence_length")
    lengths = _lengths_of(g, g.node(condition.inputs[1]).inputs[0], scope)
  elif written != top:
    raise NotRecognised(f"{where}: the loop writes {written}, not the top cell's output {top}")
  runs = [run for _, _, run, _ in ordered]
  states, initial = _v1_states(g, prefix, ordered, written if lengths else None, where)
  output = gathered(g, scope, writes[0], where) if writes else None
  stops = [sequence] + ([lengths] if lengths else []) + list(initial.values())
  ops = g.upstream([t for t in [output] + states if t], stop=stops)
  inner = set().union(*(step.ops | extra for step, _, _, extra in ordered))
  _check_machinery(g, ops - inner, prefix, where)
  return RecurrentCall(scope, "dynamic", runs, sequence, output, states,
                       lengths, initial, ops)


def _state_select(g, prefix, top):
  """The top cell's output as its h state's loop variable takes it: through sequence_length's
  Select when there is one (the output written would be selected by the same condition)."""
  for _, _, _, nxt, _ in loop_vars(g, prefix):
    node = g.node(nxt)
    if node.op in ("Select", "SelectV2") and node.inputs[2] == top:
      return nxt
  return top


def _v1_states(g, prefix, ordered, written_select, where):
  """(the Exits of the cells' final states in TF1's flat order, {position: initial state} of
  those not starting at zero): each state's loop variable is the one its cell reads, copied
  through by the output's own sequence_length condition (`written_select`) if any."""
  produced, previous = {}, {}
  for step, _, _, _ in ordered:
    produced[step.new_h] = (step.cell.scope, "h")
    previous[(step.cell.scope, "h")] = step.h_prev
    if step.new_c:
      produced[step.new_c] = (step.cell.scope, "c")
      previous[(step.cell.scope, "c")] = step.c_prev
  states, initial, found = [], {}, []
  for _, start, body, nxt, exit_ in loop_vars(g, prefix):
    node = g.node(nxt)
    if node.op in ("Select", "SelectV2") and node.inputs[1] == body and written_select:
      if node.inputs[0] != g.node(written_select).inputs[0]:
        raise NotRecognised(f"{where}: a state is copied through by another condition than "
                            "the output's sequence_length")
      nxt = node.inputs[2]
    if nxt in produced:
      # The cell must read this very loop variable as its previous state.
      if wrappers.strip_dropouts(g, previous[produced[nxt]])[0] != body:
        raise NotRecognised(f"{where}: {produced[nxt][0]} reads its {produced[nxt][1]} from "
                            "another loop variable than the one its new value goes to")
      found.append(produced[nxt])
      if not is_zero(g, start):
        initial[len(states)] = start
      states.append(exit_)
  expected = _flat_states([run for _, _, run, _ in ordered])
  if found != expected:
    raise NotRecognised(f"{where}: the loop carries states {found}, not the cells' own "
                        f"{expected}")
  return states, initial


def _check_machinery(g, ops, prefix, where, extra=frozenset()):
  """Ops of the loop body no cell or wrapper covers must be the loop's own bookkeeping
  (`extra`: a loop form's own, such as Keras's Tile of its mask)."""
  stray = []
  for name in sorted(ops):
    node = g.nodes[name]
    if not name.startswith(prefix):
      continue
    if node.op in ADDS:
      if not any(g.constant(t) is not None for t in node.inputs):
        stray.append(node)
    elif node.op not in LOOP_MACHINERY and node.op not in extra:
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
    source = wrappers.strip_dropouts(g, chain[0].x)[0]
    for other, other_chain in chains.items():
      if other != scope:
        out = wrappers.wrap(g, other_chain[0], ())[0]
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
    source = wrappers.strip_dropouts(g, steps[0].x)[0]
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
    ends = {"c": (step0.c_prev, step_n.new_c), "h": (step0.h_prev, step_n.new_h)}
    pairs = [ends[state] for state in step0.cell.kind.states]
    for start, final in pairs:
      if not is_zero(g, start):
        initial[len(states)] = start
      else:
        ops |= g.upstream([start], stop=sequence)
      states.append(final)
  return RecurrentCall(scope, "static", runs, sequence, outputs, states, None, initial, ops)


def _step(g, node, cell):
  """The cell's step starting at `node`; a refusal names the cell, its class and where it
  runs, before what did not match."""
  try:
    return cell.kind.step(g, node, cell)
  except NotRecognised as e:
    where = node.name.rpartition("/while/")[0]
    where = f" in the loop {where}/while" if where else ""
    raise NotRecognised(f"the {cell.describe_class()} {cell.scope}{where}: {e}") from None


def unconvertible(g, shapes):
  """[(cell scope, why)] of the cells recognised by their variables' names (`shapes`) whose
  ops in `g` to-keras cannot read (its step, or the call it runs in)."""
  from tf_rnn_mnist.migrate import recognise
  cells, _ = recognise.find_cells(shapes)
  g.restrict(g.outside_training())  # (gradients read every forward tensor too)
  found, starts = [], step_starts(g, list(cells.values()))
  for cell in cells.values():
    if not any(c is cell for _, c, _ in starts):
      found.append((cell.scope, "no op of the graph runs its step as this tool knows it"))
  for node, cell, _ in starts:
    try:
      cell.kind.step(g, node, cell)
    except NotRecognised as e:
      found.append((cell.scope, str(e)))
  if not found:
    try:
      find_calls(g, list(cells.values()))
    except (NotRecognised, ConfigError) as e:
      loop = re.search(r"(\S+/while)/", str(e))
      found += [(c.scope, f"the call it runs in: {e}") for n, c, _ in starts
                if loop is None or n.name.startswith(loop.group(1) + "/")]
  return list(dict.fromkeys(found))


def find_calls(g, cells):
  """Every recurrent call of the graph that runs the checkpoint's `cells`."""
  loops = _loop_prefixes(g)
  in_loop, static = {}, []
  prefix_of = {frame: prefix for prefix, frame in loops.items()}
  for node, cell, weight in step_starts(g, cells):
    step = _step(g, node, cell)
    # The loop a step runs in is the frame its kernel enters, not its name: a cell object
    # shared by two calls (one LSTMCell for both directions) names its ops after the first.
    kernel = g.node(weight)
    while kernel.op in ("Identity", "ReadVariableOp") and kernel.inputs:
      kernel = g.node(kernel.inputs[0])  # (a resource variable is read inside the loop)
    if kernel.op == "Enter":
      in_loop.setdefault(prefix_of[kernel.attr_value("frame_name")], []).append(step)
    else:
      static.append(step)
  calls = [keras_loops.call(g, prefix, steps, _stack_order, _check_machinery, RecurrentCall)
           if any(s.cell.kind.keras_loop for s in steps) else dynamic_call(g, prefix, steps)
           for prefix, steps in in_loop.items()]
  # (Keras 2 runs its cell once before its loop, only for the output's shape: no call.)
  static = [step for step in static if not keras_loops.is_shape_probe(g, step)]
  for loop in while_v2.loops(g):
    call = while_v2.dynamic_call(g, loop, cells, _stack_order, _lengths_of, RecurrentCall)
    calls += [call] if call else []
  guarded = [step for step in static if static_lengths.is_guarded(g, step)]
  if guarded:
    calls += static_lengths.guarded_calls(g, guarded, _stack_order, RecurrentCall)
  static = [step for step in static if step not in guarded]
  if static:
    calls += static_calls(g, static)
  return calls
