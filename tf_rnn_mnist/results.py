"""The results JSON every trainer writes (Keras port, legacy TF1 graphs, PyTorch seed).

Schema: variant, framework ("keras" | "tf1-graph" | "pytorch"), seed, steps, batch_size,
learning_rate, test_accuracy (full 10k test set), test_examples, seed_protocol_accuracy (the
seed's own test subset), seed_protocol_examples, history (a list of {step, test_accuracy,
test_examples} and {step, train_loss, train_accuracy}), train_seconds, total_seconds,
examples_per_second, strategy, replicas, devices, versions.
"""

import json
import os
import platform
import tempfile
from importlib import metadata

RESULT_KEYS = ("variant", "framework", "seed", "steps", "batch_size", "learning_rate",
               "test_accuracy", "test_examples", "seed_protocol_accuracy",
               "seed_protocol_examples", "history", "train_seconds", "total_seconds",
               "examples_per_second", "strategy", "replicas", "devices", "versions")


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
  write_json_atomically(path, results)


def write_json_atomically(path, value):
  """Writes `value` as JSON to `path`: a reader never sees half a file."""
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".results-",
                             suffix=".json")
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(value, f, indent=2)
      f.write("\n")
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
