"""In-memory `tf.data` pipelines for training and evaluation.

All of MNIST fits in memory many times over, so each pipeline slices arrays already in memory:
no file I/O, no per-example Python. The results are ordinary `tf.data.Dataset`s and work under
any `tf.distribute` strategy (`strategy.experimental_distribute_dataset`); the batch size given
is the global batch, which the strategy divides among replicas.
"""

import numpy as np
import tensorflow as tf

from tf_rnn_mnist.data.errors import MnistDataError


def _check(images, labels, batch_size):
  if len(images) != len(labels):
    raise MnistDataError(f"{len(images)} images but {len(labels)} labels; they must match.")
  if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
    raise MnistDataError(f"batch_size must be a positive integer, got {batch_size!r}.")


def as_sequences(images):
  """(N, 784) or (N, 28, 28) pixels -> float32 (N, 28, 28): 28 time steps of 28 inputs."""
  return np.asarray(images, dtype=np.float32).reshape(len(images), 28, 28)


def shuffled_index_batches(num_examples, batch_size, seed, epochs=None, drop_remainder=False):
  """Batches of example indices, reshuffled every epoch from `seed`; forever when epochs=None.

  Shuffling before batching and repeating after it makes each epoch end with its partial batch,
  as a PyTorch DataLoader(shuffle=True) does; drop_remainder=True drops it instead. Indices, not
  pixels, go through tf.data: the shuffle buffer (saved with the iterator in every checkpoint)
  then holds 8 bytes per example instead of 3 KB, and the pixels can stay on the device.
  """
  if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
    raise MnistDataError(f"batch_size must be a positive integer, got {batch_size!r}.")
  dataset = tf.data.Dataset.range(num_examples)
  dataset = dataset.shuffle(num_examples, seed=seed, reshuffle_each_iteration=True)
  return dataset.batch(batch_size, drop_remainder=drop_remainder).repeat(epochs)


def ordered_index_batches(batch_indices, num_examples):
  """Row k of `batch_indices` (steps, batch) is batch k: a TF1 `next_batch` replay
  (`TF1BatchOrder.take`) or any recorded order, so the Keras trainer and the TF1 graph can
  consume the very same batches."""
  batch_indices = np.asarray(batch_indices)
  if batch_indices.ndim != 2:
    raise MnistDataError(
        f"batch_indices must be a (steps, batch_size) array, got shape {batch_indices.shape}.")
  if batch_indices.shape[1] < 1:
    raise MnistDataError(f"batch_size must be a positive integer, got {batch_indices.shape[1]!r}.")
  if batch_indices.size and (batch_indices.min() < 0 or batch_indices.max() >= num_examples):
    raise MnistDataError(f"batch_indices must index 0..{num_examples - 1}.")
  return tf.data.Dataset.from_tensor_slices(batch_indices.astype(np.int64))


def _gather_batches(index_batches, images, labels):
  all_images = tf.constant(as_sequences(images))
  all_labels = tf.constant(np.asarray(labels))
  dataset = index_batches.map(lambda i: (tf.gather(all_images, i), tf.gather(all_labels, i)),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return dataset.prefetch(tf.data.AUTOTUNE)


def shuffled_batches(images, labels, batch_size, seed, epochs=None, drop_remainder=False):
  """(images, labels) training batches in `shuffled_index_batches` order."""
  _check(images, labels, batch_size)
  return _gather_batches(
      shuffled_index_batches(len(images), batch_size, seed, epochs, drop_remainder),
      images, labels)


def ordered_batches(images, labels, batch_indices):
  """(images, labels) training batches in the order of `batch_indices` (steps, batch)."""
  _check(images, labels, 1)
  return _gather_batches(ordered_index_batches(batch_indices, len(images)), images, labels)


def eval_batches(images, labels, batch_size):
  """Evaluation batches in file order, the last one partial, each example exactly once."""
  _check(images, labels, batch_size)
  dataset = tf.data.Dataset.from_tensor_slices((as_sequences(images), np.asarray(labels)))
  return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
