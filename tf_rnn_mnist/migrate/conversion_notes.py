"""What a whole-model conversion says: the calls it found with the settings read from the
graph, the wrappers and tied variables, and, when it refuses, every op it does not convert."""

from tf_rnn_mnist.migrate import graph_ops, wrappers


def refusal(refused):
  """What the graph runs that the tool does not convert: each op by name (and why, where it
  has a handler whose attributes refuse it), the ops of a while loop no recognised cell runs
  in as that loop. `refused`: [(node, reason)]."""
  loops, ops = {}, []
  for node, reason in refused:
    name = node.name
    if "/while/" in name or name.startswith("while/") or node.op.startswith("TensorArray"):
      scope = name.split("/while/")[0] if "/while/" in name else name.rpartition("/")[0]
      loops.setdefault(scope.split("/TensorArray")[0], set()).add(node.op)
    else:
      ops.append((node.name, node.op if reason == "no Keras translation" else
                  f"{node.op}: {reason}"))
  lines = [f"  {name} ({op})" for name, op in sorted(set(ops))]
  lines += [f"  the loop {scope}/while: no cell this tool recognises runs in it (a tf.keras "
            "layer's own loop, a cell of another class, state_is_tuple=False, a decoder...)"
            for scope in sorted(loops)]
  shown = lines[:20] + ([f"  ... and {len(lines) - 20} more"] if len(lines) > 20 else [])
  return ("refused: between the inputs and the outputs the graph runs what this tool does not "
          "convert, and it drops nothing silently:\n" + "\n".join(shown))


def _tf1_names(layer):
  """The TF1 variables a placed layer holds."""
  if isinstance(layer, graph_ops.TF1Embedding):
    return [layer.tf1_name]
  if isinstance(layer, graph_ops.TF1Dense):
    return [n for n in layer.tf1_names if n]
  if isinstance(layer, graph_ops.TF1Op):
    return [w["name"] for _, w in sorted(layer.weights_at.items())]
  return []


def shared_notes(placed):
  """A variable the graph reads in two places (a tied embedding and softmax) becomes a copy
  in each Keras layer: said, so that nobody trains them apart unknowingly."""
  users = {}
  for layer, _ in placed:
    for name in _tf1_names(layer):
      users.setdefault(name, []).append(layer.name)
  return [f"tied: {name} is read by {', '.join(layers)}; the Keras model holds one copy in "
          "each (equal now; to-tf1 refuses them once they differ)"
          for name, layers in users.items() if len(layers) > 1]


def call_notes(calls):
  notes = []
  for call in calls:
    cells = ", ".join(
        f"{r.cell.describe()}{r.cell.kind.settings_note(r.settings)}"
        + (" + residual" if r.residual else "") for r in call.cells)
    lengths = f", sequence_length {call.lengths}" if call.lengths else ""
    if call.mask:
      lengths += (f", Keras mask {call.mask} (masked steps give "
                  f"{'zeros' if call.zero_output_for_mask else 'the previous output'})")
    what = ("tf.keras layer" if any(r.cell.kind.keras_loop for r in call.cells)
            else f"{call.kind}_rnn")
    notes.append(f"{what} {call.scope}: {cells}{lengths}")
    for run in call.cells:
      for keep in run.keep_probs:
        notes.append(f"  DropoutWrapper {keep['where']}: identity in the Keras model "
                     f"(inference); {wrappers.rate_said(keep)}")
  return notes
