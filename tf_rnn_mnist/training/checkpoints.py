"""Checkpoints of a run in MODEL_DIR/checkpoints: everything needed to continue it exactly.

A checkpoint holds the model, the optimizers (moments and step counts), the training-data
iterator, the number of updates done, a description of the run (a restart with other flags is
refused) and the progress so far (history, seconds), so a resumed run ends with the weights and
results of an uninterrupted one.

TensorFlow writes a checkpoint under temporary names and renames it into place, so a killed
save leaves no `ckpt-N.index`; and every tensor in a checkpoint carries a CRC32C that reading it
checks. Restoring therefore walks the `ckpt-N.index` files newest first and takes the first one
whose every tensor reads back, rather than trusting the `checkpoint` state file alone.
"""

import glob
import json
import os
import re
import shutil
import tempfile

from absl import logging
import numpy as np
import tensorflow as tf

from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.plumbing.outputs import CHECKPOINT_SUBDIR
KEEP = 3
_RUN_KEY = "run/.ATTRIBUTES/VARIABLE_VALUE"


def directory_of(model_dir):
  return os.path.join(model_dir, CHECKPOINT_SUBDIR)


def candidates(directory):
  """Checkpoint prefixes in `directory`, newest (highest step) first."""
  found = []
  for index in glob.glob(os.path.join(glob.escape(directory), "ckpt-*.index")):
    match = re.fullmatch(r"ckpt-(\d+)\.index", os.path.basename(index))
    if match:
      found.append((int(match.group(1)), index[:-len(".index")]))
  return [prefix for _, prefix in sorted(found, reverse=True)]


def unreadable(prefix):
  """Why the checkpoint at `prefix` cannot be used, or None if every tensor reads back."""
  try:
    reader = tf.train.load_checkpoint(prefix)
    for name, dtype in reader.get_variable_to_dtype_map().items():
      if dtype != tf.variant:  # the iterator's state; checked when restored
        reader.get_tensor(name)  # checks the tensor's CRC32C
    if not reader.has_tensor(_RUN_KEY):
      return "it was not written by this trainer (no run description)"
  except Exception as e:  # pylint: disable=broad-except
    # The reader raises OpError, ValueError, IndexError... by the kind of damage; any of
    # them means the checkpoint cannot be used.
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
  return None


def saved_description(prefix):
  return json.loads(tf.train.load_checkpoint(prefix).get_tensor(_RUN_KEY))


def is_run_checkpoint(prefix):
  """Whether `prefix` names a readable checkpoint written by this trainer."""
  try:
    return tf.train.load_checkpoint(prefix).has_tensor(_RUN_KEY)
  except Exception:  # pylint: disable=broad-except  (not a TF2 checkpoint: someone else's)
    return False


def restore_model(prefix, model, variant):
  """The model weights of a checkpoint of this trainer (for --init_from), of the same variant."""
  saved, variant_name = saved_description(prefix).get("variant"), variant.name
  if saved != variant_name:
    raise ConfigError(f"--init_from={prefix} is a checkpoint of {saved}, not {variant_name}.")
  status = tf.train.Checkpoint(model_variables=list(model.variables)).restore(prefix)
  try:
    status.expect_partial().assert_existing_objects_matched()
  except AssertionError as e:
    raise ConfigError(f"--init_from={prefix} does not fit the {variant_name} model: "
                      f"{str(e).splitlines()[0]}") from None


def weights_summary(variables):
  """(every value finite, the largest |value|) over `variables`."""
  finite, largest = True, 0.0
  for variable in variables:
    values = np.asarray(variable.numpy())
    if not np.issubdtype(values.dtype, np.floating):
      continue  # seed generator states
    finite = finite and bool(np.isfinite(values).all())
    largest = max(largest, float(np.nanmax(np.abs(values))) if values.size else 0.0)
  return finite, largest


class RunCheckpoints:
  """Saves and restores one run's checkpoints in MODEL_DIR/checkpoints.

  description: what makes two runs the same run (variant, seed, batch...); a checkpoint whose
  description differs is refused. objects: the trackables to save (model, optimizers, iterator).
  Under MultiWorkerMirroredStrategy every worker saves, as TensorFlow requires, but only the
  chief into MODEL_DIR; the others write to a temporary directory and delete it.
  """

  def __init__(self, model_dir, description, chief=True, lock=None, **objects):
    self.model_dir, self.directory = model_dir, directory_of(model_dir)
    self.description, self.chief, self.lock = description, chief, lock
    self.model_variables = objects.get("model_variables", [])
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.run = tf.Variable(json.dumps(description, sort_keys=True), trainable=False)
    self.progress = tf.Variable("{}", trainable=False)
    self.checkpoint = tf.train.Checkpoint(step=self.step, run=self.run, progress=self.progress,
                                          **objects)
    self.manager = (tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=KEEP)
                    if chief else None)

  def remove_leftovers(self):
    """The temporary directories (TensorFlow's `ckpt-N_temp`) of saves a kill interrupted.
    Safe: the run holds MODEL_DIR's lock, so no other save is under way."""
    for path in glob.glob(os.path.join(glob.escape(self.directory), "ckpt-*_temp*")):
      if re.fullmatch(r"ckpt-\d+_temp[^/]*", os.path.basename(path)) and os.path.isdir(path):
        logging.info("Removing %s, left by an interrupted save.", path)
        shutil.rmtree(path, ignore_errors=True)

  def restore(self):
    """Restores the newest readable checkpoint of this run: returns (prefix, step, progress
    dict), or (None, 0, {}) when there is none to continue from."""
    if self.chief:
      self.remove_leftovers()
    skipped = []
    for prefix in candidates(self.directory):
      problem = unreadable(prefix)
      if problem:
        logging.warning("Not resuming from %s: %s.", prefix, problem)
        skipped.append(f"{os.path.basename(prefix)} ({problem})")
        continue
      self._check_same_run(prefix, saved_description(prefix))
      try:
        self.checkpoint.restore(prefix).assert_consumed()
      except (tf.errors.OpError, ValueError, AssertionError) as e:
        # A later candidate's restore overwrites whatever this one had restored.
        problem = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        logging.warning("Not resuming from %s: %s.", prefix, problem)
        skipped.append(f"{os.path.basename(prefix)} ({problem})")
        continue
      return prefix, int(self.step.numpy()), json.loads(self.progress.numpy())
    if skipped:
      raise ConfigError(
          f"--model_dir={self.model_dir} holds no readable checkpoint: "
          f"{'; '.join(skipped)}. Delete {self.directory} to start over.")
    return None, 0, {}

  def _check_same_run(self, prefix, saved):
    # (the training data's digest: not a flag; a checkpoint written before it was recorded
    # has none, and is not refused for that)
    differences = [f"the training data's SHA-256 {saved[key]} there, {value} here (other "
                   "data: another --data_dir or --data_source)" if key == "data" else
                   f"--{key}={saved.get(key)} there, {value} here"
                   for key, value in sorted(self.description.items())
                   if saved.get(key) != value and (key != "data" or key in saved)]
    if differences:
      raise ConfigError(
          f"--model_dir={self.model_dir} holds a checkpoint of a different run "
          f"({os.path.basename(prefix)}): {'; '.join(differences)}. Pass the same flags to "
          "resume it, or a new --model_dir.")

  def save(self, step, progress):
    """Saves the state after `step` updates; returns the checkpoint prefix (chief) or None."""
    self.step.assign(step)
    self.progress.assign(json.dumps(progress))
    if self.chief:
      if self.lock:
        self.lock.check()  # another run must not be writing here
      return self.manager.save(checkpoint_number=step)
    scratch = tempfile.mkdtemp(prefix="tf_rnn_mnist_worker_checkpoint_")
    try:
      tf.train.CheckpointManager(self.checkpoint, scratch, max_to_keep=1).save(step)
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
    return None
