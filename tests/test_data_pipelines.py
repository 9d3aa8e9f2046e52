"""The tf.data pipelines: shapes, dtypes, order, and distribution over 2 replicas."""

import re

import numpy as np
import pytest
import tensorflow as tf

from tf_rnn_mnist.data import MnistDataError, TF1BatchOrder, tf1_scale
from tf_rnn_mnist.data.pipelines import eval_batches, ordered_batches, shuffled_batches


def test_shuffled_batches_shapes_dtypes_and_epochs(tiny_arrays):
  images, labels = tf1_scale(tiny_arrays["train_images"]), tiny_arrays["train_labels"]
  dataset = shuffled_batches(images, labels, batch_size=50, seed=3, epochs=2)
  batches = list(dataset.as_numpy_iterator())
  assert [len(y) for _, y in batches] == [50, 50, 20, 50, 50, 20]  # partial batch per epoch
  x, y = batches[0]
  assert x.shape == (50, 28, 28) and x.dtype == np.float32 and y.dtype == np.uint8
  for epoch in (batches[:3], batches[3:]):  # each epoch is a permutation of the split
    seen = np.concatenate([x.reshape(len(x), -1) for x, _ in epoch])
    assert sorted(map(bytes, seen)) == sorted(map(bytes, images))
  first_epoch = np.concatenate([y for _, y in batches[:3]])
  assert not np.array_equal(first_epoch, np.concatenate([y for _, y in batches[3:]]))
  again = list(shuffled_batches(images, labels, 50, seed=3, epochs=2).as_numpy_iterator())
  for (x1, y1), (x2, y2) in zip(batches, again):  # same seed, same order
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_shuffled_batches_drop_remainder_repeats_forever(tiny_arrays):
  dataset = shuffled_batches(tiny_arrays["train_images"], tiny_arrays["train_labels"], 50,
                             seed=0, drop_remainder=True)
  assert dataset.element_spec[0].shape.as_list() == [50, 28, 28]
  assert len(list(dataset.take(9).as_numpy_iterator())) == 9


def test_ordered_batches_replay_tf1_next_batch(tiny_arrays):
  images, labels = tf1_scale(tiny_arrays["train_images"]), tiny_arrays["train_labels"]
  indices = TF1BatchOrder(len(images), seed=5).take(batch_size=32, num_batches=8)
  for k, (x, y) in enumerate(ordered_batches(images, labels, indices).as_numpy_iterator()):
    np.testing.assert_array_equal(x, images[indices[k]].reshape(32, 28, 28))
    np.testing.assert_array_equal(y, labels[indices[k]])
  assert k == 7


def test_eval_batches_cover_each_example_once_in_order(tiny_arrays):
  images, labels = tiny_arrays["test_images"], tiny_arrays["test_labels"]
  batches = list(eval_batches(images, labels, batch_size=8).as_numpy_iterator())
  assert [len(y) for _, y in batches] == [8, 8, 8, 6]
  np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)


def test_pipelines_distribute_over_two_replicas(tiny_arrays, mirrored):
  strategy = mirrored
  dataset = shuffled_batches(tf1_scale(tiny_arrays["train_images"]), tiny_arrays["train_labels"],
                             batch_size=40, seed=0, drop_remainder=True)
  x, y = next(iter(strategy.experimental_distribute_dataset(dataset)))
  per_replica = strategy.experimental_local_results(x)
  assert [t.shape.as_list() for t in per_replica] == [[20, 28, 28], [20, 28, 28]]
  assert [t.device.endswith("CPU:0") for t in per_replica] == [True, False]


@pytest.mark.parametrize("call,message", [
    (lambda a: shuffled_batches(a["train_images"], a["test_labels"], 10, 0),
     "120 images but 30 labels; they must match."),
    (lambda a: eval_batches(a["test_images"], a["test_labels"], 0),
     "batch_size must be a positive integer, got 0."),
    (lambda a: ordered_batches(a["test_images"], a["test_labels"], np.array([[0, 30]])),
     "batch_indices must index 0..29."),
])
def test_pipeline_input_errors(tiny_arrays, call, message):
  with pytest.raises(MnistDataError, match=re.escape(message)):
    call(tiny_arrays)
