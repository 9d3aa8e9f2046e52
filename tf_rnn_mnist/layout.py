"""The package's layers, top to bottom, as data (README, "Layout", draws them).

A module imports only modules of its own layer or of the layers below it; the legacy scripts
(legacy_tf1, legacy_torch) import only what LEGACY_SHARED declares. tests/test_layout.py
checks every import of every module against this, and that every module has its place here.
"""

LAYERS = (
    ("tools", ("tf_rnn_mnist.__main__", "tf_rnn_mnist.train", "tf_rnn_mnist.convert",
               "tf_rnn_mnist.compare", "tf_rnn_mnist.compare_report", "tf_rnn_mnist.bench",
               "tf_rnn_mnist.bench_report",
               "tf_rnn_mnist.bench_sides", "tf_rnn_mnist.profile", "tf_rnn_mnist.data.__main__",
               "tf_rnn_mnist.migrate.__main__", "tf_rnn_mnist.cli")),
    ("run", ("tf_rnn_mnist.loop", "tf_rnn_mnist.plan", "tf_rnn_mnist.trainer",
             "tf_rnn_mnist.tutorial_log", "tf_rnn_mnist.checkpoints", "tf_rnn_mnist.exports",
             "tf_rnn_mnist.run_lock", "tf_rnn_mnist.preemption", "tf_rnn_mnist.outputs",
             "tf_rnn_mnist.distribute", "tf_rnn_mnist.worker_wait")),
    ("building blocks", ("tf_rnn_mnist.models", "tf_rnn_mnist.initializers",
                         "tf_rnn_mnist.layers", "tf_rnn_mnist.wavefront", "tf_rnn_mnist.losses",
                         "tf_rnn_mnist.optimizers",
                         "tf_rnn_mnist.weight_maps", "tf_rnn_mnist.equivalence",
                         "tf_rnn_mnist.results", "tf_rnn_mnist.atomic",
                         "tf_rnn_mnist.native_logs", "tf_rnn_mnist.bench_gate",
                         "tf_rnn_mnist.bench_stats")),
    # migrate's library: any TF1 RNN model's cells, graph and ops (weight_maps uses its maps)
    ("migrate", ("tf_rnn_mnist.migrate", "tf_rnn_mnist.migrate.*")),
    ("variant table", ("tf_rnn_mnist.variants", "tf_rnn_mnist.schedules",
                       "tf_rnn_mnist.data.tutorial_splits")),
    ("data", ("tf_rnn_mnist.data", "tf_rnn_mnist.data.*")),
    ("base", ("tf_rnn_mnist", "tf_rnn_mnist.errors", "tf_rnn_mnist.layout")),
)

# What the legacy scripts share with the project, and why; nothing else of the trainer's.
LEGACY_SHARED = (
    "tf_rnn_mnist.data", "tf_rnn_mnist.data.*",  # MNIST, the TF1 split and batch orders
    "tf_rnn_mnist.results",  # the results JSON's schema and the summary line every side prints
    "tf_rnn_mnist.errors", "tf_rnn_mnist.cli",  # one-line errors, signals, --help
    "tf_rnn_mnist.outputs", "tf_rnn_mnist.run_lock",  # outputs checked first; one run per dir
    "tf_rnn_mnist.bench_gate",  # the benchmark's windows (--bench_window)
    "tf_rnn_mnist.migrate.spec",  # rnn_graph.py: the TF1 side of migrate's cell-level verify
)


def _matches(module, pattern):
  return module == pattern or (pattern.endswith(".*") and module.startswith(pattern[:-1]))


def layer_of(module):
  """The index of `module`'s layer (0: tools), or None if it has no place."""
  for index, (_, members) in enumerate(LAYERS):
    # The most specific pattern wins: migrate.__main__ is a tool, migrate.* a library.
    if module in members:
      return index
  for index, (_, members) in enumerate(LAYERS):
    if any(_matches(module, m) for m in members if m.endswith(".*")):
      return index
  return None


def legacy_may_import(module):
  return any(_matches(module, m) for m in LEGACY_SHARED)
