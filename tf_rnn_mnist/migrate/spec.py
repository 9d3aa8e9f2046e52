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


def write(spec, path):
  with open(path, "w") as f:
    json.dump(dataclasses.asdict(spec), f)


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
