"""The MNIST cache: the four IDX files written once, atomically, into a directory that is
checked before anything is fetched; partial files of killed writers are removed.
"""

import os
import re
import tempfile

from tf_rnn_mnist.data import idx
from tf_rnn_mnist.data.errors import MnistDataError


def default_cache_dir():
  cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(cache_home, "tf_rnn_mnist")


def check_cache_dir(cache_dir, data_dir):
  """Before fetching: the cache can be written (a read-only or non-directory HOME or
  XDG_CACHE_HOME would otherwise fail after the download). Removes partial files that killed
  fetches left."""
  try:
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryFile(dir=cache_dir):
      pass
  except OSError as e:
    where = ("--data_dir" if data_dir else
             "the default cache ($XDG_CACHE_HOME/tf_rnn_mnist, else ~/.cache/tf_rnn_mnist)")
    raise MnistDataError(
        f"The MNIST cache {cache_dir} ({where}) is not a writable directory ({e}). Pass "
        "--data_dir=DIR with a writable directory, or set XDG_CACHE_HOME.") from None
  _remove_stale_partials(cache_dir)


def _partial_prefix(path, pid):
  return f"{os.path.basename(path)}.{pid}."


def _remove_stale_partials(cache_dir):
  """`*.PID.*.partial` files whose writer is gone (killed mid-write); a live writer's stay."""
  for name in os.listdir(cache_dir):
    match = re.fullmatch(r"(.+)\.(\d+)\.[^.]+\.partial", name)
    if not match or match.group(1) not in idx.OFFICIAL_FILES.values():
      continue
    try:
      os.kill(int(match.group(2)), 0)
      continue  # its writer is still running
    except ProcessLookupError:
      pass
    except PermissionError:
      continue  # someone else's live process
    try:
      os.unlink(os.path.join(cache_dir, name))
    except OSError:
      pass


def cached(mnist, cache_dir):
  """Writes `mnist` into `cache_dir` as raw IDX files, each only if not already there."""
  os.makedirs(cache_dir, exist_ok=True)
  for key, name in idx.OFFICIAL_FILES.items():
    if idx.find_idx_file(cache_dir, name):
      continue
    _write_atomically(os.path.join(cache_dir, name), idx.encode_idx(getattr(mnist, key)))
  return mnist


def _write_atomically(path, content):
  """Writes to a temporary name in the same directory, then renames: never a partial file."""
  fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(path),
                                  prefix=_partial_prefix(path, os.getpid()), suffix=".partial")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(content)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; the cache is ordinary readable data
    os.replace(tmp_path, path)
  except BaseException:
    os.unlink(tmp_path)
    raise
