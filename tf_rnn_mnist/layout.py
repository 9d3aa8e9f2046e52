"""The package's layers, top to bottom: a folder is a layer (its `__init__` says what lives
there and what it may import), the package's top holds the entry points, the variant table
and the base (docs/design.md, "Layout", draws them).

A module imports only modules of its own layer or of the layers below it; the legacy scripts
(legacy_tf1, legacy_torch) import only what LEGACY_SHARED declares. tests/test_layout.py
checks every import of every module against this, that every module has its place here, and
that each folder's docstring names the layers below it.
"""

LAYERS = (
    ("entry points", ("tf_rnn_mnist.__main__", "tf_rnn_mnist.train")),
    ("tools", ("tf_rnn_mnist.tools", "tf_rnn_mnist.tools.*")),
    ("training", ("tf_rnn_mnist.training", "tf_rnn_mnist.training.*")),
    ("model", ("tf_rnn_mnist.model", "tf_rnn_mnist.model.*")),
    # migrate's library and its command (whose flags and errors come from plumbing)
    ("migrate", ("tf_rnn_mnist.migrate", "tf_rnn_mnist.migrate.*")),
    ("the variant table", ("tf_rnn_mnist.variants", "tf_rnn_mnist.schedules")),
    ("plumbing", ("tf_rnn_mnist.plumbing", "tf_rnn_mnist.plumbing.*")),
    ("data", ("tf_rnn_mnist.data", "tf_rnn_mnist.data.*")),
    ("base", ("tf_rnn_mnist", "tf_rnn_mnist.errors", "tf_rnn_mnist.layout")),
)

# What the legacy scripts share with the project, and why; nothing else of the trainer's.
LEGACY_SHARED = (
    "tf_rnn_mnist.data", "tf_rnn_mnist.data.*",  # MNIST, the TF1 split and batch orders
    "tf_rnn_mnist.errors",
    # one-line errors and signals, outputs checked first, one run per directory, the results
    # JSON and its summary line, the benchmark's windows
    "tf_rnn_mnist.plumbing", "tf_rnn_mnist.plumbing.*",
    "tf_rnn_mnist.migrate.spec",  # rnn_graph.py: the TF1 side of migrate's cell-level verify
)


def _matches(module, pattern):
  return module == pattern or (pattern.endswith(".*") and module.startswith(pattern[:-1]))


def layer_of(module):
  """The index of `module`'s layer (0: the entry points), or None if it has no place."""
  for index, (_, members) in enumerate(LAYERS):
    if module in members:
      return index
  for index, (_, members) in enumerate(LAYERS):
    if any(_matches(module, m) for m in members if m.endswith(".*")):
      return index
  return None


def legacy_may_import(module):
  return any(_matches(module, m) for m in LEGACY_SHARED)
