"""What `verify` hands to the TF1 process (legacy_tf1.rnn_graph): a JSON file, read back into
the same objects."""

import dataclasses
import json

from tf_rnn_mnist.migrate.structures import Cell, Head, Layer, RunOptions, Structure


@dataclasses.dataclass(frozen=True)
class GraphSpec:
  structures: tuple
  head: Head | None
  options: RunOptions
  checkpoint: str
  inputs: str
  output: str


def _plain(value):
  """The spec as JSON values; each Cell's kind by its name."""
  if isinstance(value, Cell):
    return value.to_dict()
  if dataclasses.is_dataclass(value):
    return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
  if isinstance(value, (tuple, list)):
    return [_plain(v) for v in value]
  return value


def write(spec, path):
  with open(path, "w") as f:
    json.dump(_plain(spec), f)


def _cells(items):
  return tuple(Cell(**c) for c in items)


def read(path):
  with open(path) as f:
    raw = json.load(f)
  structures = tuple(
      Structure(s["scope"], s["naming"], tuple(
          Layer(_cells(l["fw"]), _cells(l["bw"]) if l["bw"] else None) for l in s["layers"]))
      for s in raw["structures"])
  return GraphSpec(structures, Head(**raw["head"]) if raw["head"] else None,
                   RunOptions(**raw["options"]), raw["checkpoint"], raw["inputs"], raw["output"])
