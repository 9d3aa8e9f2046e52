"""Checkpoints of a run in --model_dir: model, optimizer and the number of updates done."""

import os

import tensorflow as tf

from tf_rnn_mnist.errors import ConfigError

CHECKPOINT_SUBDIR = "checkpoints"


def _directory(model_dir):
  return os.path.join(model_dir, CHECKPOINT_SUBDIR)


def refuse_existing(model_dir):
  """A model_dir holding another run's checkpoint is not silently overwritten."""
  latest = tf.train.latest_checkpoint(_directory(model_dir))
  if latest:
    raise ConfigError(
        f"--model_dir={model_dir} already holds a checkpoint ({latest}). Pass a new "
        "--model_dir, or delete that one to start over.")


def save_final(model_dir, model, optimizers, steps):
  step = tf.Variable(steps, dtype=tf.int64, trainable=False)
  checkpoint = tf.train.Checkpoint(model=model, optimizers=optimizers, step=step)
  manager = tf.train.CheckpointManager(checkpoint, _directory(model_dir), max_to_keep=3)
  return manager.save(checkpoint_number=steps)
