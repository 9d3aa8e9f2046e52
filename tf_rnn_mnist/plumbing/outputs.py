"""Outputs, checked before any work: kind, writability, no two on one path, none on an input.

A run that trains for an hour must not end by failing to write what it finished, nor write one
output over another or over one of its inputs. Every tool uses the checks at the end of this
file; the trainer's own outputs are checked by check_train_outputs. No TensorFlow here.
"""

import errno
import os
import re
import tempfile

from tf_rnn_mnist.plumbing import atomic
from tf_rnn_mnist.plumbing import run_lock
from tf_rnn_mnist.errors import ConfigError

CHECKPOINT_SUBDIR = "checkpoints"
CHECKPOINT_STATE = "checkpoint"  # TensorFlow's state file in the checkpoint directory
TENSORBOARD_SUBDIR = "tensorboard"
# Suffixes of model files that are not a .keras file: Keras 3 writes none of them, and an
# export path ending in one would silently become a SavedModel directory of that name.
OTHER_MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".pb", ".pbtxt", ".tflite", ".onnx", ".pt",
                        ".pth", ".ckpt", ".npz", ".npy", ".json", ".zip", ".tar", ".gz")


def tensorboard_dir(config):
  """Where the run's TensorBoard scalars go, or None."""
  if config.tensorboard_dir:
    return config.tensorboard_dir
  return os.path.join(config.model_dir, TENSORBOARD_SUBDIR) if config.model_dir else None


def check_train_outputs(config):
  """Fails before training, not after it, if an output cannot be written where asked."""
  if config.checkpoint_every and not config.model_dir:
    raise ConfigError("--checkpoint_every needs --model_dir (where the checkpoints go).")
  # (first: the checks below make directories, none of which may go into another run's)
  run_lock.check_outside_locked_runs(
      {"model_dir": config.model_dir, "tensorboard_dir": tensorboard_dir(config),
       "results_json": config.results_json, "export": config.export}, own=config.model_dir)
  check_distinct(
      {"model_dir": config.model_dir, "tensorboard_dir": config.tensorboard_dir,
       "results_json": config.results_json, "export": config.export},
      {"init_from": config.init_from, "batch_indices": config.batch_indices,
       "data_dir": config.data_dir},
      {"where the run's checkpoints go": (config.model_dir and os.path.join(
          config.model_dir, CHECKPOINT_SUBDIR), "model_dir"),
       "the TensorBoard directory": (tensorboard_dir(config), "tensorboard_dir")})
  if config.model_dir:
    _check_model_dir(config.model_dir)
  check_optional_outputs(tensorboard_dir=tensorboard_dir(config))
  if config.results_json:
    check_writable_file("results_json", config.results_json, "a .json file path")
  if config.export:
    check_export_path("export", config.export)


# TensorFlow reads checkpoint paths as glob patterns: a directory named with these could be
# written but never read back (a resume fails, and old checkpoints are never deleted).
GLOB_CHARACTERS = "*?[]"


def _check_model_dir(model_dir):
  if any(c in GLOB_CHARACTERS for c in os.path.abspath(model_dir)):
    raise ConfigError(f"--model_dir={model_dir}: TensorFlow reads checkpoint paths as glob "
                      f"patterns, so a path with any of {GLOB_CHARACTERS} could never be "
                      "resumed from; pass a path without them.")
  check_writable_dir("model_dir", model_dir, inside=CHECKPOINT_PATH_BYTES)
  checkpoints = os.path.join(model_dir, CHECKPOINT_SUBDIR)
  if os.path.exists(checkpoints):
    if not os.path.isdir(checkpoints):
      raise ConfigError(f"--model_dir={model_dir}: {checkpoints} is a file where the run's "
                        "checkpoint directory goes; move it away or pass another --model_dir.")
    check_writable_dir("model_dir", checkpoints)
  state = os.path.join(checkpoints, CHECKPOINT_STATE)
  if os.path.isdir(state):
    raise ConfigError(f"--model_dir={model_dir}: {state} is a directory where TensorFlow "
                      "keeps its checkpoint state file; move it away or pass another "
                      "--model_dir.")


def check_export_path(flag, path):
  """A .keras file (lower case, as Keras requires) or a SavedModel directory: new, or empty."""
  suffix = os.path.splitext(path.rstrip(os.sep))[1]
  if path.endswith(".keras"):
    check_writable_file(flag, path, "a path ending in .keras for a Keras model file, or a "
                            "directory for a SavedModel")
    return
  if suffix.lower() in OTHER_MODEL_SUFFIXES:
    raise ConfigError(f"--{flag}={path}: a model is exported as a Keras file (a path ending in "
                      f".keras, lower case) or as a SavedModel directory (a path without a file "
                      f"suffix); '{suffix}' is neither.")
  if os.path.exists(path) and not os.path.isdir(path):
    raise ConfigError(f"--{flag}={path} is an existing file; pass a path ending in .keras (a "
                      "Keras model file) or a directory (a SavedModel).")
  check_name_limits(flag, path, inside=CHECKPOINT_PATH_BYTES)  # (variables/variables.data-...)
  check_writable_dir(flag, os.path.dirname(_target(flag, path.rstrip(os.sep))))
  if os.path.isdir(path) and os.listdir(path):
    raise ConfigError(f"--{flag}={path} is a directory that is not empty; a SavedModel needs an "
                      "empty or new directory (nothing in it is overwritten).")


# What TensorFlow writes inside a run's model_dir, at the longest: MODEL_DIR/checkpoints/
# ckpt-N_temp/part-00000-of-00001.data-00000-of-00001.tempstate<20 digits>, with room to spare.
CHECKPOINT_PATH_BYTES = 160


def _limit(path, name):
  """os.pathconf's `name` (PC_NAME_MAX, PC_PATH_MAX) for the filesystem `path` is on (its
  nearest existing ancestor), or the POSIX minimum it guarantees."""
  existing = path
  while existing and not os.path.exists(existing):
    existing = os.path.dirname(existing)
  try:
    return os.pathconf(existing or os.sep, name)
  except (OSError, ValueError):
    return 255 if name == "PC_NAME_MAX" else 4096


def _target(flag, path):
  """The path a write to `path` lands on (through symbolic links); a link loop refused."""
  try:
    return os.path.realpath(path, strict=True)
  except OSError as e:
    if e.errno == errno.ELOOP:
      raise ConfigError(f"--{flag}={path} cannot be written: {e.strerror} (a symbolic link "
                        "loop).") from None
    # (a new file, or a link to one: made where the link points; a file where a directory
    # should be is said by the directory's check)
    return os.path.realpath(path)


def check_name_limits(flag, path, inside=0):
  """Every name in `path` within the filesystem's NAME_MAX, and the path (with `inside` more
  bytes of what is written in it) within PATH_MAX: refused before any work, not when the
  run ends and its outputs cannot be written."""
  full = os.path.abspath(path)
  try:
    full.encode("utf-8")
  except UnicodeEncodeError:  # (TensorFlow encodes every path it opens as UTF-8, strictly)
    raise ConfigError(f"--{flag}={os.fsencode(path).decode('utf-8', 'backslashreplace')}: the "
                      "path is not valid UTF-8, which TensorFlow requires of every path it "
                      "writes; rename it.") from None
  name_max = _limit(full, "PC_NAME_MAX")
  for part in full.split(os.sep):
    if len(os.fsencode(part)) > name_max:
      raise ConfigError(f"--{flag}: the name {part[:40]}... is {len(os.fsencode(part))} bytes; "
                        f"this filesystem's names are at most {name_max} (NAME_MAX).")
  path_max = _limit(full, "PC_PATH_MAX")
  length = len(os.fsencode(full)) + inside
  if length > path_max:
    more = f" with the {inside} bytes of what is written inside it" if inside else ""
    raise ConfigError(f"--{flag}: the path is {len(os.fsencode(full))} bytes{more}; this "
                      f"filesystem's paths are at most {path_max} (PATH_MAX). Pass a shorter "
                      "path.")


def _check_not_a_stream(flag, path, what):
  """/dev/stdout, /dev/fd/N, /proc/self/fd/N: an output is written as a new file renamed onto
  its path, which would replace whatever the stream was redirected to (a log, say)."""
  places = {os.path.dirname(os.path.abspath(path)),
            os.path.realpath(os.path.dirname(os.path.abspath(path)))}
  if any(p == root or p.startswith(root + os.sep) for p in places for root in ("/dev", "/proc")):
    raise ConfigError(f"--{flag}={path} is a device or stream, not a file: outputs are written "
                      f"whole under a new name and renamed onto their path, which would replace "
                      f"what the stream leads to. Pass {what}.")


def check_writable_dir(flag, directory, inside=0):
  """Creates `directory` if needed and proves a file can be written in it (and `inside`
  bytes more of path in it)."""
  # (at least a staged name: atomic.staged_path writes beside every output)
  check_name_limits(flag, directory, max(inside, atomic.STAGED_NAME_BYTES + 1))
  if os.path.exists(directory) and not os.path.isdir(directory):
    raise ConfigError(f"--{flag}={directory} is an existing file, not a directory.")
  try:
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory):
      pass
  except OSError as e:
    raise ConfigError(f"--{flag}={directory} is not a writable directory: {e}.") from None


def check_writable_file(flag, path, what="a file path"):
  """`path` can be written as a file: not a directory, its directory exists (or is made) and
  takes files, and an existing file there may be replaced."""
  if os.path.isdir(path):
    raise ConfigError(f"--{flag}={path} is an existing directory; pass {what}.")
  if path.endswith(os.sep):
    raise ConfigError(f"--{flag}={path} ends in '{os.sep}', a directory; pass {what}.")
  _check_not_a_stream(flag, path, what)
  check_name_limits(flag, path)
  # (where the write lands: a symbolic link's target, whose directory may differ)
  check_writable_dir(flag, os.path.dirname(_target(flag, path)))
  real = os.path.realpath(path)
  if os.path.exists(real) and not os.path.isfile(real):
    raise ConfigError(f"--{flag}={path} is not a regular file (a device, FIFO or socket); "
                      f"pass {what}.")
  if os.path.exists(path) and not os.access(path, os.W_OK):
    raise ConfigError(f"--{flag}={path} exists and is not writable.")


def check_optional_outputs(**outputs):
  """check_writable_dir for each given output directory, `flag=path` (None: not asked for)."""
  for flag, directory in outputs.items():
    if directory:
      check_writable_dir(flag, directory)


def _inside(path, container):
  """Whether writing `path` writes into `container` (the same path, a file in that directory,
  or one of a TF checkpoint prefix's files: `PREFIX.index`, `PREFIX.data-*`, `PREFIX.meta`;
  `run1.keras.json` is beside the file `run1.keras`, not in it)."""
  path, container = os.path.realpath(path), os.path.realpath(container)
  checkpoint_file = re.fullmatch(re.escape(container) + r"\.(index|meta|data-\d+-of-\d+)", path)
  return (path == container or path.startswith(container + os.sep)
          or (checkpoint_file is not None and not os.path.isfile(container)))


def check_distinct(outputs, inputs=None, protected=None):
  """Refuses two outputs on one path, an output on or inside an input (a file in --data_dir, a
  checkpoint prefix's files), and an output inside a `protected` directory another output
  fills (MODEL_DIR/checkpoints, the TensorBoard directory): the later write would destroy the
  earlier one with no error. outputs, inputs: {flag: path or None}; protected: {what it is:
  (directory or None, the flag that fills it)}."""
  given = {flag: path for flag, path in outputs.items() if path}
  written = {}
  for flag, path in given.items():
    other = written.setdefault(os.path.realpath(path), flag)
    if other != flag:
      raise ConfigError(f"--{flag}={path} is the same path as --{other}: one output would "
                        "overwrite the other. Pass different paths.")
  for flag, path in (inputs or {}).items():
    for other, output in given.items() if path else ():
      if _inside(output, path):
        where = ("the same path as the input --" + flag
                 if os.path.realpath(output) == os.path.realpath(path)
                 else f"inside the input --{flag}={path}")
        raise ConfigError(f"--{other}={output} is {where}: writing it would destroy the "
                          "input. Pass another output path.")
  for what, (directory, owner) in (protected or {}).items():
    for other, output in given.items() if directory else ():
      if other != owner and _inside(output, directory):
        raise ConfigError(f"--{other}={output} is inside {directory}, {what}: it would be "
                          "overwritten, or break it. Pass another output path.")
