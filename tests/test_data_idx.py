"""IDX parsing (gz and raw) and every error a user's IDX directory can produce."""

import os
import re
import struct

import numpy as np
import pytest

from conftest import write_idx_dir
from tf_rnn_mnist.data import MnistDataError, load_mnist
from tf_rnn_mnist.data import idx


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_reads_idx_dir_raw_and_gz(tmp_path, tiny_official, compress):
  directory = write_idx_dir(tmp_path / "mnist", tiny_official, compress=compress)
  mnist = load_mnist("idx", data_dir=directory)
  for key in idx.OFFICIAL_FILES:
    np.testing.assert_array_equal(getattr(mnist, key), tiny_official[key])
    assert getattr(mnist, key).dtype == np.uint8
  assert mnist.train_images.shape == (120, 28, 28)
  assert (mnist.source, mnist.location, mnist.verified) == ("idx", directory, True)
  assert mnist.digests == idx.OFFICIAL_SHA256


def test_encode_parse_round_trip_and_header():
  labels = np.array([3, 1, 4], dtype=np.uint8)
  content = idx.encode_idx(labels)
  assert content[:8] == struct.pack(">II", 0x801, 3)
  np.testing.assert_array_equal(idx.parse_idx(content, "f", idx.LABEL_MAGIC), labels)


def test_missing_directory(tmp_path):
  missing = str(tmp_path / "nowhere")
  with pytest.raises(MnistDataError) as e:
    load_mnist("idx", data_dir=missing)
  assert str(e.value) == (
      f"MNIST directory {missing} does not exist. Expected a directory holding the four IDX "
      "files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
      "t10k-labels-idx1-ubyte, each raw or .gz), or use --data_source=auto to fetch MNIST.")


def test_missing_file(tmp_path, tiny_official):
  directory = write_idx_dir(tmp_path, tiny_official)
  os.remove(os.path.join(directory, "t10k-labels-idx1-ubyte"))
  with pytest.raises(MnistDataError) as e:
    load_mnist("idx", data_dir=directory)
  assert str(e.value) == (
      f"{directory}/t10k-labels-idx1-ubyte is missing: neither t10k-labels-idx1-ubyte nor "
      f"t10k-labels-idx1-ubyte.gz is in {directory}. All four MNIST IDX files are needed there, "
      "or use --data_source=auto to fetch MNIST.")


def _overwrite(directory, name, content):
  path = os.path.join(directory, name)
  with open(path, "wb") as f:
    f.write(content)
  return path


def test_wrong_magic(tmp_path, tiny_official):
  directory = write_idx_dir(tmp_path, tiny_official)
  # A label file where an image file belongs.
  path = _overwrite(directory, "train-images-idx3-ubyte", idx.encode_idx(tiny_official["train_labels"]))
  with pytest.raises(MnistDataError) as e:
    load_mnist("idx", data_dir=directory)
  assert str(e.value) == (
      f"{path} has magic number 0x00000801, expected 0x00000803 (IDX 3-D unsigned-byte "
      "images). Is this the right file, or a different format?")


@pytest.mark.parametrize("keep,expected", [
    (2, "is truncated: it holds 2 bytes, fewer than the 4-byte IDX magic number"),
    (10, "is truncated: its IDX header needs 16 bytes, the file holds 10."),
    (16 + 500, "is truncated: its header declares images of shape (30, 28, 28), i.e. 23536 "
               "bytes with the header, but the file holds 516 bytes."),
])
def test_truncated_raw(tmp_path, tiny_official, keep, expected):
  directory = write_idx_dir(tmp_path, tiny_official)
  content = idx.encode_idx(tiny_official["test_images"])
  path = _overwrite(directory, "t10k-images-idx3-ubyte", content[:keep])
  with pytest.raises(MnistDataError, match=re.escape(f"{path} {expected}")):
    load_mnist("idx", data_dir=directory)


def test_trailing_bytes(tmp_path, tiny_official):
  directory = write_idx_dir(tmp_path, tiny_official)
  path = _overwrite(directory, "t10k-labels-idx1-ubyte",
                    idx.encode_idx(tiny_official["test_labels"]) + b"\0")
  with pytest.raises(MnistDataError, match=re.escape(f"{path} has trailing bytes")):
    load_mnist("idx", data_dir=directory)


def test_truncated_gz(tmp_path, tiny_official):
  directory = write_idx_dir(tmp_path, tiny_official, compress=True)
  path = os.path.join(directory, "train-labels-idx1-ubyte.gz")
  with open(path, "rb") as f:
    packed = f.read()
  _overwrite(directory, "train-labels-idx1-ubyte.gz", packed[:len(packed) // 2])
  with pytest.raises(MnistDataError, match=re.escape(
      f"{path} is not a readable gzip file (Compressed file ended before the end-of-stream "
      "marker was reached). It is truncated or corrupt")):
    load_mnist("idx", data_dir=directory)


def test_wrong_image_shape(tmp_path, tiny_official):
  directory = write_idx_dir(tmp_path, tiny_official)
  path = _overwrite(directory, "t10k-images-idx3-ubyte",
                    idx.encode_idx(np.zeros((3, 32, 32), np.uint8)))
  with pytest.raises(MnistDataError) as e:
    load_mnist("idx", data_dir=directory, verify_digests=False)
  assert str(e.value) == f"{path} holds images of 32x32 pixels; MNIST images are 28x28."


def test_image_label_count_mismatch(tmp_path, tiny_official):
  directory = write_idx_dir(tmp_path, tiny_official)
  _overwrite(directory, "t10k-labels-idx1-ubyte", idx.encode_idx(np.zeros(7, np.uint8)))
  with pytest.raises(MnistDataError) as e:
    load_mnist("idx", data_dir=directory, verify_digests=False)
  assert str(e.value) == (f"{directory}: the test split has 30 images but 7 labels; each image "
                          "needs exactly one label.")


def test_label_out_of_range(tmp_path, tiny_official):
  directory = write_idx_dir(tmp_path, tiny_official)
  path = _overwrite(directory, "t10k-labels-idx1-ubyte", idx.encode_idx(np.full(30, 12, np.uint8)))
  with pytest.raises(MnistDataError, match=re.escape(f"{path} holds label 12; MNIST labels are 0..9.")):
    load_mnist("idx", data_dir=directory, verify_digests=False)


def test_digest_mismatch_and_explicit_opt_out(tmp_path, tiny_official):
  altered = dict(tiny_official, test_images=tiny_official["test_images"].copy())
  altered["test_images"][0, 0, 0] ^= 1  # one bit of one pixel
  directory = write_idx_dir(tmp_path, altered, compress=True)
  path = os.path.join(directory, "t10k-images-idx3-ubyte.gz")
  actual = idx.sha256_hex(idx.encode_idx(altered["test_images"]))
  with pytest.raises(MnistDataError) as e:
    load_mnist("idx", data_dir=directory)
  assert str(e.value) == (
      f"{path}: the SHA-256 of its uncompressed contents is {actual}, but the official "
      f"t10k-images-idx3-ubyte has {idx.OFFICIAL_SHA256['t10k-images-idx3-ubyte']}. The file is "
      "not the MNIST Yann LeCun published (damaged, altered or reordered). Delete it to fetch "
      "MNIST again, or, if this is your own IDX data on purpose, pass --noverify_digests "
      "(verify_digests=False).")
  # The user's own data on purpose: accepted, and marked unverified.
  mnist = load_mnist("idx", data_dir=directory, verify_digests=False)
  assert not mnist.verified
  assert mnist.digests["t10k-images-idx3-ubyte"] == actual
  np.testing.assert_array_equal(mnist.test_images, altered["test_images"])


def test_opt_out_only_for_idx():
  with pytest.raises(MnistDataError, match=re.escape(
      "verify_digests=False (--noverify_digests) is only for your own IDX files with "
      "--data_source=idx")):
    load_mnist("auto", verify_digests=False)


def test_unknown_source():
  with pytest.raises(MnistDataError) as e:
    load_mnist("http")
  assert str(e.value) == "Unknown MNIST source 'http'; choose one of auto, idx, tfds, pypi."
