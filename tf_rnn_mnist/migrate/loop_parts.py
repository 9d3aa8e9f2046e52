"""What the recurrent-call rewriters share about TF1 graphs' loops and states: zeros (an
initial state, a zero output), a v1 while loop's variables, the TensorArray a loop reads its
input sequence from and the one its outputs are gathered into."""

import re

from tf_rnn_mnist.migrate.cell_steps import NotRecognised


def is_zero(g, tensor):
  """A tensor of zeros known at conversion: a zero constant, or a Fill of a zero scalar."""
  node = g.node(tensor)
  if node.op == "Fill":
    value = g.constant(node.inputs[1])
    return value is not None and value.size == 1 and float(value.reshape(())) == 0.0
  value = g.constant(tensor)
  return value is not None and not value.any()


def loop_vars(g, prefix):
  """[(Merge, Enter input, body tensor, NextIteration input, Exit)] of the v1 while loop
  `prefix` ('SCOPE/while/'), in creation order."""
  merges = sorted((n for n in g.nodes.values() if n.op == "Merge" and
                   re.fullmatch(re.escape(prefix) + r"Merge(_\d+)?", n.name)),
                  key=lambda n: int(n.name.rpartition("_")[2]) if "_" in
                  n.name[len(prefix):] else 0)
  rows = []
  for merge in merges:
    enter, next_iteration = (g.node(t) for t in merge.inputs)
    switch = next(n for n, _ in g.consumers(f"{merge.name}:0", everywhere=True)
                  if n.op == "Switch")
    # (the body reads the Switch through an Identity; optimize_for_inference removes it)
    body = next((f"{n.name}:0" for n, _ in g.consumers(f"{switch.name}:1", everywhere=True)
                 if n.op == "Identity"), f"{switch.name}:1")
    exits = [n for n, _ in g.consumers(f"{switch.name}:0") if n.op == "Exit"]
    rows.append((merge, enter.inputs[0], body, next_iteration.inputs[0],
                 f"{exits[0].name}:0" if exits else None))
  return rows


def scattered(g, read, where):
  """The time-major tensor a loop's TensorArrayReadV3 `read` was scattered from."""
  scatter = g.node(g.node(read.inputs[2]).inputs[0])
  if scatter.op != "TensorArrayScatterV3":
    raise NotRecognised(f"{where}: the loop does not read a scattered input sequence")
  return scatter.inputs[2]


def gathered(g, scope, write, where):
  """The tensor the TensorArray a loop's TensorArrayWriteV3 `write` fills is gathered into."""
  array = g.node(g.node(write.inputs[0]).inputs[0]).name
  gathers = [n for n in g.nodes.values() if n.op == "TensorArrayGatherV3" and
             n.name.startswith(scope + "/") and g.node(n.inputs[0]).name == array]
  if len(gathers) != 1:
    raise NotRecognised(f"{where}: the loop's outputs are not gathered into one sequence")
  return f"{gathers[0].name}:0"
