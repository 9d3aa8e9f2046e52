"""The recurrent structures of a TF1 checkpoint, as `recognise.inspect` finds them: cells
(TF1 LSTM/GRU cells, tf.keras layers), their layers and stacks, a dense head, the inspection
with its --scope/--head choices and report, and TF1's run-time settings (RunOptions).
"""

import dataclasses

from tf_rnn_mnist.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Cell:
  """One recurrent cell of the checkpoint: `kind` is its cells.CellKind (a kind's name is
  resolved to it on construction), `scope` the prefix of its variables."""
  kind: object
  scope: str
  input_size: int
  units: int
  num_proj: int | None = None
  peepholes: bool = False
  reset_after: bool = False

  def __post_init__(self):
    if isinstance(self.kind, str):
      from tf_rnn_mnist.migrate.cells import kind_named
      object.__setattr__(self, "kind", kind_named(self.kind, self.scope))

  @property
  def output_size(self):
    return self.num_proj or self.units

  @property
  def cell_name(self):
    return self.scope.rsplit("/", 1)[-1]

  def variables(self):
    """{role: checkpoint name}; roles are the names under the cell's scope."""
    return {role: f"{self.scope}/{role}" for role in self.kind.roles(self)}

  def to_dict(self):
    return {**dataclasses.asdict(dataclasses.replace(self, kind=None)), "kind": self.kind.name}

  def describe(self):
    extras = [e for e in ("peepholes" if self.peepholes else "",
                          f"projection {self.num_proj}" if self.num_proj else "",
                          "reset_after" if self.reset_after else "") if e]
    return f"{self.kind.layer}({self.units}{', ' + ', '.join(extras) if extras else ''})"

  def describe_class(self):
    return self.kind.describe_class(self)


@dataclasses.dataclass(frozen=True)
class Layer:
  """One step of a structure: a forward stack of cells run as one RNN (a MultiRNNCell, or one
  cell), and for a bidirectional layer the backward stack beside it; outputs concatenated."""
  fw: tuple
  bw: tuple | None = None

  @property
  def input_size(self):
    return self.fw[0].input_size

  @property
  def output_size(self):
    return self.fw[-1].output_size + (self.bw[-1].output_size if self.bw else 0)

  @property
  def cells(self):
    return self.fw + (self.bw or ())


@dataclasses.dataclass(frozen=True)
class Structure:
  """A recurrent network of the checkpoint. `naming` says how TF1 named its variables:
  dynamic_rnn (SCOPE/cell or SCOPE/multi_rnn_cell/cell_K/cell), bidirectional (SCOPE/fw|bw/...),
  stack_bidirectional (SCOPE/cell_K/bidirectional_rnn/fw|bw/cell) or keras (a tf.keras layer)."""
  scope: str
  naming: str
  layers: tuple

  @property
  def input_size(self):
    return self.layers[0].input_size

  @property
  def output_size(self):
    return self.layers[-1].output_size

  @property
  def cells(self):
    return tuple(c for layer in self.layers for c in layer.cells)

  def describe(self):
    kinds = {c.describe() for c in self.cells}
    if self.naming == "dynamic_rnn":
      cells = self.layers[0].fw
      what = (f"{len(cells)} x {cells[0].describe()}" if len(kinds) == 1 and len(cells) > 1
              else " -> ".join(c.describe() for c in cells))
    elif self.naming == "stack_bidirectional":
      pairs = [f"({layer.fw[0].describe()} + {layer.bw[0].describe()})" for layer in self.layers]
      what = (f"{len(pairs)} x bidirectional {pairs[0]}" if len(set(pairs)) == 1
              else "bidirectional " + " -> ".join(pairs))
    else:
      layer = self.layers[0]
      fw = " -> ".join(c.describe() for c in layer.fw)
      what = f"bidirectional ({fw} + {' -> '.join(c.describe() for c in layer.bw)})" \
          if layer.bw else fw
    classes = ", ".join(sorted({c.describe_class() for c in self.cells}))
    return (f"{self.pattern()}: {what}, input {self.input_size}, output {self.output_size} "
            f"[{classes}]")

  def pattern(self):
    """The cells' scopes in one line, e.g. rnn/multi_rnn_cell/cell_{0,1,2}/basic_lstm_cell."""
    scopes = [c.scope for c in self.cells]
    if len(scopes) == 1:
      return scopes[0]
    parts = [s.split("/") for s in scopes]
    if len({len(p) for p in parts}) != 1:
      return "{" + ",".join(scopes) + "}"
    merged = []
    for column in zip(*parts):
      values = list(dict.fromkeys(column))
      if len(values) == 1:
        merged.append(values[0])
        continue
      prefix = _common_prefix(values)
      merged.append(prefix + "{" + ",".join(v[len(prefix):] for v in values) + "}")
    return "/".join(merged)


def _common_prefix(values):
  prefix = values[0]
  for v in values[1:]:
    while not v.startswith(prefix):
      prefix = prefix[:-1]
  return prefix


@dataclasses.dataclass(frozen=True)
class Head:
  """A dense layer over the network's last output: `logits = out[:, -1] @ kernel + bias`."""
  kernel: str
  bias: str
  inputs: int
  outputs: int


@dataclasses.dataclass(frozen=True)
class Inspection:
  structures: tuple
  heads: tuple            # (Head, ...) of any size; matched to a structure by size
  optimizer_state: tuple  # names
  unrecognised: tuple     # (name or scope, reason)
  shapes: dict

  def structure(self, scope):
    for s in self.structures:
      if s.scope == scope:
        return s
    return None

  def heads_for(self, structure):
    return [h for h in self.heads if h.inputs == structure.output_size]

  def choose(self, scopes, path):
    """The structures --scope names (all, if it names none and there is one), in order."""
    if not self.structures:
      raise ConfigError(f"{path} holds no recurrent network this tool recognises.\n"
                        f"{self.report()}")
    available = ", ".join(s.scope or "(top level)" for s in self.structures)
    if not scopes:
      if len(self.structures) > 1:
        raise ConfigError(f"{path} holds {len(self.structures)} recurrent networks; pick "
                          f"with --scope (one of: {available}).")
      return list(self.structures)
    chosen = []
    for scope in scopes:
      found = self.structure(scope)
      if found is None:
        raise ConfigError(f"--scope={scope}: no recurrent network there; the checkpoint has: "
                          f"{available}.")
      if chosen and found.input_size != chosen[-1].output_size:
        raise ConfigError(f"--scope={scope} takes input {found.input_size}, but "
                          f"{chosen[-1].scope} gives {chosen[-1].output_size}.")
      chosen.append(found)
    return chosen

  def choose_head(self, top, head_flag):
    """The Head --head names for the network's top structure `top`, or None."""
    if head_flag == "none":
      return None
    if head_flag == "auto":
      heads = self.heads_for(top)
      if len(heads) > 1:
        raise ConfigError("More than one dense layer fits the network's output ("
                          f"{', '.join(h.kernel for h in heads)}): pick with --head=SCOPE or "
                          "none.")
      return heads[0] if heads else None
    names = head_flag.split(",")
    if len(names) == 1:
      scope = names[0]
      names = ([f"{scope}/kernel", f"{scope}/bias"] if f"{scope}/kernel" in self.shapes
               else [f"{scope}/weights", f"{scope}/biases"])
    if len(names) != 2 or any(n not in self.shapes for n in names):
      raise ConfigError(f"--head={head_flag}: the checkpoint has no such dense layer (pass "
                        "auto, none, SCOPE, or KERNEL,BIAS names that `inspect` lists).")
    kernel, bias = (self.shapes[n] for n in names)
    if len(kernel) != 2 or kernel[0] != top.output_size or bias != (kernel[1],):
      raise ConfigError(f"--head={head_flag}: kernel {list(kernel)} and bias {list(bias)} do "
                        f"not make a dense layer over the network's output of "
                        f"{top.output_size}.")
    return Head(names[0], names[1], *kernel)

  def report(self):
    lines = []
    if self.structures:
      lines.append("recognised:")
      lines += [f"  {s.describe()}" for s in self.structures]
    else:
      lines.append("recognised: no recurrent network (no LSTM or GRU variables).")
    for head in self.heads:
      lines.append(f"  dense head {head.kernel} [{head.inputs}, {head.outputs}] + {head.bias}")
    if self.optimizer_state:
      lines.append(f"optimizer state (not converted): {len(self.optimizer_state)} variables")
    if self.unrecognised:
      lines.append("not recognised:")
      lines += [f"  {name}: {reason}" for name, reason in self.unrecognised]
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class RunOptions:
  """TF1's run-time settings, which a checkpoint does not store: forget_bias (BasicLSTMCell,
  LSTMCell, LSTMBlock(Fused)Cell; default 1.0), cell_clip and proj_clip (LSTMCell's)."""
  forget_bias: float = 1.0
  cell_clip: float | None = None
  proj_clip: float | None = None
