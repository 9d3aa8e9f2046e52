"""The index pipelines the trainer feeds: torch-style reshuffled epochs and recorded orders.

(The pixel pipelines shuffled_batches / ordered_batches / eval_batches were removed with their
tests: nothing but those tests used them; the trainer gathers pixels on its devices.)
"""

import re

import numpy as np
import pytest

from tf_rnn_mnist.data import MnistDataError, TF1BatchOrder
from tf_rnn_mnist.data.pipelines import ordered_index_batches, shuffled_index_batches


def test_shuffled_index_batches_reshuffle_epochs_and_keep_the_partial_batch():
  batches = list(shuffled_index_batches(120, batch_size=50, seed=3, epochs=2)
                 .as_numpy_iterator())
  assert [len(b) for b in batches] == [50, 50, 20, 50, 50, 20]
  first, second = np.concatenate(batches[:3]), np.concatenate(batches[3:])
  np.testing.assert_array_equal(np.sort(first), np.arange(120))
  np.testing.assert_array_equal(np.sort(second), np.arange(120))
  assert not np.array_equal(first, second)
  again = list(shuffled_index_batches(120, 50, seed=3, epochs=2).as_numpy_iterator())
  for a, b in zip(batches, again):
    np.testing.assert_array_equal(a, b)


def test_shuffled_index_batches_drop_remainder_repeats_forever():
  dataset = shuffled_index_batches(120, 50, seed=0, drop_remainder=True)
  assert [len(b) for b in dataset.take(5).as_numpy_iterator()] == [50] * 5


def test_ordered_index_batches_replay_tf1_next_batch():
  order = TF1BatchOrder(120, seed=0).take(40, 5)  # crosses two epoch boundaries
  for k, batch in enumerate(ordered_index_batches(order, 120).as_numpy_iterator()):
    np.testing.assert_array_equal(batch, order[k])
    assert batch.dtype == np.int64


@pytest.mark.parametrize("call,message", [
    (lambda: shuffled_index_batches(120, 0, seed=0),
     "batch_size must be a positive integer, got 0."),
    (lambda: ordered_index_batches(np.array([[0, 30]]), 30),
     "A batch order must index the 30 training examples (0..29); it holds 0..30."),
    (lambda: ordered_index_batches(np.array([0, 1]), 30),
     "A batch order must be an integer array of shape (steps, batch), got int64 [2]."),
])
def test_pipeline_input_errors(call, message):
  with pytest.raises(MnistDataError, match=re.escape(message)):
    call()
