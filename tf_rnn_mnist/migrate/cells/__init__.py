"""The TF1 cell kinds migrate converts, one class each (base.py says what a kind declares):
TF1's LSTM cells (tf1_lstm.py: BasicLSTMCell, LSTMCell, LSTMBlockFusedCell), GRUCell and
contrib's GRUBlockCell (tf1_gru.py), BasicRNNCell (tf1_rnn.py) and tf.keras layers saved by a
TF1 Saver (keras_layers.py). Recognition tries
them in the order they are registered (module names, then classes in each module).
"""

import importlib
import pkgutil

from tf_rnn_mnist.migrate.cells.base import KINDS, CellKind, NotRecognised  # noqa: F401

# Every module beside base.py holds kinds; importing it registers them (in name order: a new
# kind is a class in a module here, and nothing else changes).
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"):
  importlib.import_module(f"{__name__}.{_module}")


def kind_named(name, scope=""):
  """The CellKind `name` names (a name earlier releases wrote: tf1_lstm, by the scope's own
  cell name; tf1_gru)."""
  if name in KINDS:
    return KINDS[name]
  if name == "tf1_gru":
    return KINDS["gru"]
  if name == "tf1_lstm":
    base = scope.rpartition("/")[2]
    for kind in KINDS.values():
      if kind.layer == "LSTM" and kind.claims(f"{scope}/kernel", {}):
        return kind
    raise ValueError(f"no TF1 LSTM class names its scope {base!r}")
  raise ValueError(f"unknown cell kind {name!r} (known: {', '.join(KINDS)})")


# --cell of to-tf1: the TF1 class the LSTM layers are written as.
LSTM_CLASSES = {"BasicLSTMCell": "basic_lstm", "LSTMCell": "lstm", "LSTMBlockCell": "lstm",
                "LSTMBlockFusedCell": "lstm_fused"}


def kind_of_class(tf1_class):
  """The CellKind written for TF1 class `tf1_class` (to-tf1's --cell, a tutorial's cell)."""
  if tf1_class == "GRUCell":
    return KINDS["gru"]
  return KINDS[LSTM_CLASSES[tf1_class]]
