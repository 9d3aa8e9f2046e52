"""Reading, writing and verifying the IDX files MNIST is published as.

IDX (http://yann.lecun.com/exdb/mnist/): a big-endian header, magic 0x00000803 for 3-D uint8
images or 0x00000801 for 1-D uint8 labels, one uint32 per dimension, then the raw bytes.
numpy reads the payload directly; no library offers a strict IDX reader with the checks we want
(truncation, trailing bytes, shapes), so this one is written by hand.
"""

import gzip
import hashlib
import os
import struct
import zlib

import numpy as np

from tf_rnn_mnist.data.errors import MnistDataError

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
IMAGE_SIDE = 28
NUM_CLASSES = 10

# The four official files: LeCun's names and the SHA-256 of their uncompressed contents.
OFFICIAL_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
OFFICIAL_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
OFFICIAL_COUNTS = {"train": 60000, "test": 10000}


def find_idx_file(directory, name):
  """Returns the path of `name` or `name.gz` in `directory` (raw preferred), else None."""
  for candidate in (name, name + ".gz"):
    path = os.path.join(directory, candidate)
    if os.path.isfile(path):
      return path
  return None


def read_idx_bytes(path):
  """Returns the uncompressed contents of an IDX file, `.gz` or raw."""
  try:
    if path.endswith(".gz"):
      with gzip.open(path, "rb") as f:
        return f.read()
    with open(path, "rb") as f:
      return f.read()
  except (EOFError, gzip.BadGzipFile, zlib.error) as e:
    raise MnistDataError(
        f"{path} is not a readable gzip file ({e}). It is truncated or corrupt: delete it and "
        "fetch MNIST again, or store the file uncompressed (the name without .gz)."
    ) from None


def parse_idx(content, path, expected_magic):
  """Parses IDX bytes into a uint8 array, checking magic, header and payload length."""
  kind = "images" if expected_magic == IMAGE_MAGIC else "labels"
  ndim = 3 if expected_magic == IMAGE_MAGIC else 1
  header_size = 4 + 4 * ndim
  if len(content) < 4:
    raise MnistDataError(
        f"{path} is truncated: it holds {len(content)} bytes, fewer than the 4-byte IDX magic "
        f"number. Expected an IDX {kind} file starting with 0x{expected_magic:08X}.")
  (magic,) = struct.unpack(">I", content[:4])
  if magic != expected_magic:
    raise MnistDataError(
        f"{path} has magic number 0x{magic:08X}, expected 0x{expected_magic:08X} "
        f"(IDX {ndim}-D unsigned-byte {kind}). Is this the right file, or a different format?")
  if len(content) < header_size:
    raise MnistDataError(
        f"{path} is truncated: its IDX header needs {header_size} bytes, the file holds "
        f"{len(content)}.")
  shape = struct.unpack(f">{ndim}I", content[4:header_size])
  expected_size = header_size + int(np.prod(shape, dtype=np.int64))
  if len(content) != expected_size:
    problem = "is truncated" if len(content) < expected_size else "has trailing bytes"
    raise MnistDataError(
        f"{path} {problem}: its header declares {kind} of shape {shape}, i.e. {expected_size} "
        f"bytes with the header, but the file holds {len(content)} bytes.")
  if expected_magic == IMAGE_MAGIC and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
    raise MnistDataError(
        f"{path} holds images of {shape[1]}x{shape[2]} pixels; MNIST images are "
        f"{IMAGE_SIDE}x{IMAGE_SIDE}.")
  array = np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape)
  if expected_magic == LABEL_MAGIC and array.size and array.max() >= NUM_CLASSES:
    raise MnistDataError(
        f"{path} holds label {int(array.max())}; MNIST labels are 0..{NUM_CLASSES - 1}.")
  return array


def encode_idx(array):
  """Returns the IDX bytes of a uint8 image (N,28,28) or label (N,) array."""
  magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
  header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
  return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def sha256_hex(content):
  return hashlib.sha256(content).hexdigest()


def check_official_digest(content, name, path):
  """Raises unless `content` is byte for byte the official uncompressed `name`."""
  digest = sha256_hex(content)
  expected = OFFICIAL_SHA256[name]
  if digest != expected:
    raise MnistDataError(
        f"{path}: the SHA-256 of its uncompressed contents is {digest}, but the official "
        f"{name} has {expected}. The file is not the MNIST Yann LeCun published (damaged, "
        "altered or reordered). Delete it to fetch MNIST again, or, if this is your own IDX "
        "data on purpose, pass --noverify_digests (verify_digests=False).")
  return digest
