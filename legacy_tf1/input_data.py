"""`tensorflow.examples.tutorials.mnist.input_data`, which TF 2 no longer ships, on the
project's verified data layer.

Same API (`read_data_sets(...).train/.validation/.test`, `images`, `labels`, `num_examples`,
`epochs_completed`, `next_batch`), split (validation = the first 5000 training images), scaling
(float32 times float32(1/255)), dtypes (one-hot float64 labels) and batch order as TF1.
"""

import tensorflow.compat.v1 as tf

from tf_rnn_mnist.data import ReplayOrder, load_mnist, tf1_split
from tf_rnn_mnist.data.splits import TF1_VALIDATION_SIZE


def read_data_sets(train_dir=None, one_hot=False, validation_size=TF1_VALIDATION_SIZE,
                   source="auto", verify_digests=True, tfds_data_dir=None, batch_indices=None):
  """TF1's read_data_sets. train_dir: the IDX directory / cache (None: the project's cache).

  batch_indices: a (steps, batch) array of training-split indices that `train.next_batch`
  serves instead of its shuffled order.
  """
  mnist = load_mnist(source, train_dir, verify_digests, tfds_data_dir)
  # TF1's DataSet.__init__ called random_seed.get_seed(None) once per split and seeded the
  # global numpy RNG with the graph seed; each call also advanced the graph's op-seed counter,
  # which the weights' initializers created afterwards depend on. Asking the same three times
  # keeps both the batch order and the initial weights TF1's.
  seeds = tuple(tf.get_seed(None)[0] for _ in ("train", "validation", "test"))
  datasets = tf1_split(mnist, seeds, validation_size, one_hot_labels=one_hot)
  if batch_indices is not None:
    datasets.train.order = ReplayOrder(batch_indices, datasets.train.num_examples)
  return datasets
