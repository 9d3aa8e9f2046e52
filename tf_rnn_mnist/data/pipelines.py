"""In-memory `tf.data` pipelines of training-batch indices.

All of MNIST fits in memory many times over, so the trainer keeps the pixels on its devices and
only indices go through tf.data: the shuffle buffer (saved with the iterator in every
checkpoint) then holds 8 bytes per example instead of 3 KB. The results are ordinary
`tf.data.Dataset`s of global batches, which the trainer splits among replicas.
"""

import numpy as np
import tensorflow as tf

from tf_rnn_mnist.data.errors import MnistDataError
from tf_rnn_mnist.data.splits import check_batch_order


def shuffled_index_batches(num_examples, batch_size, seed, epochs=None, drop_remainder=False):
  """Batches of example indices, reshuffled every epoch from `seed`; forever when epochs=None.

  Shuffling before batching and repeating after it makes each epoch end with its partial batch,
  as a PyTorch DataLoader(shuffle=True) does; drop_remainder=True drops it instead.
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
  return tf.data.Dataset.from_tensor_slices(check_batch_order(batch_indices, num_examples))
