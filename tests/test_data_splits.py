"""The TF1 split and scaling, TF1 next_batch order, and the PyTorch split."""

import re

import numpy as np
import pytest

from tf_rnn_mnist.data import (MnistDataError, TF1BatchOrder, load_mnist, one_hot, tf1_split,
                               torch_split)
from tf_rnn_mnist.data.sources import Mnist


def test_next_batch_hand_worked_example():
  """10 examples, batch 4, seed 0, worked by hand.

  RandomState(0) draws the permutations p1 = [2 8 4 9 1 6 7 3 0 5], p2 = [3 5 1 2 9 8 0 6 7 4],
  p3 = [2 3 8 4 5 1 0 6 9 7]. Epoch 1 is p1. Batch 3 takes the 2 leftovers [0 5], reshuffles
  the shuffled order (order2 = p1[p2] = [9 6 8 4 5 0 2 7 3 1]) and fills with [9 6]. Batch 5
  ends exactly at the epoch's end, so the reshuffle (order3 = order2[p3] = [8 4 3 5 ...])
  happens on the 6th call, with no leftovers.
  """
  order = TF1BatchOrder(10, seed=0)
  batches = [order.next_indices(4).tolist() for _ in range(6)]
  assert batches == [[2, 8, 4, 9], [1, 6, 7, 3], [0, 5, 9, 6], [8, 4, 5, 0], [2, 7, 3, 1],
                     [8, 4, 3, 5]]
  assert order.epochs_completed == 2


class _TF1DataSetReference:
  """TF1's DataSet.next_batch, as in tensorflow/contrib/learn/.../datasets/mnist.py (r1.15),
  with its images replaced by indices. It uses the global numpy RNG, as TF1 did."""

  def __init__(self, n):
    self._num_examples, self._images = n, np.arange(n)
    self._epochs_completed = self._index_in_epoch = 0

  def next_batch(self, batch_size, shuffle=True):
    start = self._index_in_epoch
    if self._epochs_completed == 0 and start == 0 and shuffle:
      perm0 = np.arange(self._num_examples)
      np.random.shuffle(perm0)
      self._images = self._images[perm0]
    if start + batch_size > self._num_examples:
      self._epochs_completed += 1
      rest_num_examples = self._num_examples - start
      images_rest_part = self._images[start:self._num_examples]
      if shuffle:
        perm = np.arange(self._num_examples)
        np.random.shuffle(perm)
        self._images = self._images[perm]
      start = 0
      self._index_in_epoch = batch_size - rest_num_examples
      end = self._index_in_epoch
      images_new_part = self._images[start:end]
      return np.concatenate((images_rest_part, images_new_part), axis=0)
    else:
      self._index_in_epoch += batch_size
      end = self._index_in_epoch
      return self._images[start:end]


@pytest.mark.parametrize("n,batch,seed", [(55000, 100, 0), (55000, 128, 7), (97, 50, 3),
                                           (100, 128, 1)])
def test_next_batch_equals_tf1_global_rng(n, batch, seed):
  state = np.random.get_state()
  try:
    np.random.seed(seed)  # what tf.set_random_seed(seed) + DataSet.__init__ amounted to
    reference = _TF1DataSetReference(n)
    expected = [reference.next_batch(batch) for _ in range(3 * n // batch + 5)]
  finally:
    np.random.set_state(state)
  order = TF1BatchOrder(n, seed)
  for batch_indices in expected:  # ragged where TF1's slicing ran short (batch > 2x the split)
    np.testing.assert_array_equal(order.next_indices(batch), batch_indices)


def test_next_batch_rejects_bad_batch_size():
  with pytest.raises(MnistDataError, match=re.escape(
      "batch_size must be a positive integer, got 0.")):
    TF1BatchOrder(10, 0).next_indices(0)


def _mnist(arrays):
  return Mnist(**arrays, source="test", location="memory", digests={}, verified=False)


def test_tf1_split_sizes_scaling_and_dtypes(tiny_arrays):
  data = tf1_split(_mnist(tiny_arrays), seed=1, validation_size=20)
  assert (data.train.num_examples, data.validation.num_examples, data.test.num_examples) == (
      100, 20, 30)
  np.testing.assert_array_equal(data.validation.labels.argmax(1), tiny_arrays["train_labels"][:20])
  np.testing.assert_array_equal(data.train.labels.argmax(1), tiny_arrays["train_labels"][20:])
  assert data.train.images.shape == (100, 784) and data.train.images.dtype == np.float32
  assert data.train.labels.shape == (100, 10) and data.train.labels.dtype == np.float64
  # TF1 multiplies by float32(1/255): for pixel 3 that is not the float32 nearest 3/255.
  expected = tiny_arrays["train_images"][20:].reshape(100, 784).astype(np.float32) * np.float32(
      1 / 255)
  np.testing.assert_array_equal(data.train.images, expected)
  assert np.float32(3) * np.float32(1 / 255) != np.float32(3) / np.float32(255)
  images, labels = data.train.next_batch(7)
  batch = TF1BatchOrder(100, seed=1).next_indices(7)
  np.testing.assert_array_equal(images, expected[batch])
  np.testing.assert_array_equal(labels, one_hot(tiny_arrays["train_labels"][20:][batch]))


def test_torch_split_divides_by_255(tiny_arrays):
  split = torch_split(_mnist(tiny_arrays))
  assert split.train_images.shape == (120, 28, 28) and split.train_images.dtype == np.float32
  assert split.train_labels.dtype == np.int64
  np.testing.assert_array_equal(split.test_images,
                                tiny_arrays["test_images"].astype(np.float32) / np.float32(255))


@pytest.mark.real_data
def test_tf1_split_of_real_mnist(real_mnist):
  data = tf1_split(real_mnist, seed=0)
  assert (data.train.num_examples, data.validation.num_examples, data.test.num_examples) == (
      55000, 5000, 10000)
  # The first validation and train labels of the official file (5 0 4 1 ... / index 5000 on).
  assert data.validation.labels[:4].argmax(1).tolist() == [5, 0, 4, 1]
  np.testing.assert_array_equal(data.train.labels.argmax(1), real_mnist.train_labels[5000:])
  assert data.test.images.max() == np.float32(255) * np.float32(1 / 255)
