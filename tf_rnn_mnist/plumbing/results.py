"""The results JSON every trainer writes (Keras port, legacy TF1 graphs, the PyTorch tutorial).

Schema: variant, framework ("keras" | "tf1-graph" | "pytorch"), seed (the random seed), steps,
batch_size, learning_rate, test_accuracy (full 10k test set), test_examples,
tutorial_protocol_accuracy (the tutorial's own test subset), tutorial_protocol_examples, history
(a list of {step, test_accuracy, test_examples} and {step, train_loss, train_accuracy}),
train_seconds, total_seconds, examples_per_second, strategy, replicas, devices, versions.
"""

import json
import os
import platform
import tempfile
from importlib import metadata

from tf_rnn_mnist.plumbing import atomic
from tf_rnn_mnist.errors import OutputError

RESULT_KEYS = ("variant", "framework", "seed", "steps", "batch_size", "learning_rate",
               "test_accuracy", "test_examples", "tutorial_protocol_accuracy",
               "tutorial_protocol_examples", "history", "train_seconds", "total_seconds",
               "examples_per_second", "strategy", "replicas", "devices", "versions")


# Keys renamed on 2026-12-05 ("seed" now means a random seed only), written under their old
# names too until 2027-01 so that readers of earlier results files keep working: {old: new}.
OLD_KEYS = {"seed_protocol_accuracy": "tutorial_protocol_accuracy",
            "seed_protocol_examples": "tutorial_protocol_examples"}


def summary_line(test_accuracy, test_examples, tutorial_accuracy, tutorial_examples):
  """The last line of every run, v1 and v2 alike."""
  return (f"Full test accuracy ({test_examples} images): {test_accuracy:.4f}; the tutorial's "
          f"protocol ({tutorial_examples} images): {tutorial_accuracy:.4f}")


def versions(*packages):
  """Installed versions of `packages` (by distribution name) and of Python."""
  found = {"python": platform.python_version()}
  for package in packages:
    try:
      found[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      pass
  return found


def write_json(path, results):
  """Writes a run's `results` (every RESULT_KEYS entry) to `path` atomically."""
  missing = [k for k in RESULT_KEYS if k not in results]
  if missing:
    raise ValueError(f"results lack {missing}")
  write_json_atomically(path, {**results, **{old: results[new] for old, new in OLD_KEYS.items()}})


def _write(path, value):
  with atomic.staged_path(path) as staged:
    with open(staged, "w") as f:
      json.dump(value, f, indent=2)
      f.write("\n")


def fallback_path(path):
  """Where an output that could not be written at `path` goes instead: a new file in the temp
  directory."""
  stem, suffix = os.path.splitext(os.path.basename(path))
  return atomic.unique_path(tempfile.gettempdir(), stem, suffix)


def write_json_atomically(path, value, what="the results"):
  """Writes `value` (`what` it holds, for messages) as JSON to `path`: a reader never sees half
  a file. If `path` cannot be written (disk full, a directory removed), the JSON goes to
  `fallback_path(path)` and an OutputError names both."""
  try:
    _write(path, value)
  except OSError as e:
    try:
      fallback = fallback_path(path)
      _write(fallback, value)
    except OSError:
      raise OutputError(f"Could not write {path} ({e}), nor a copy of {what} in the temp "
                        "directory.") from None
    raise OutputError(f"Could not write {path} ({e}); {what} were saved to {fallback} "
                      "instead.") from None
