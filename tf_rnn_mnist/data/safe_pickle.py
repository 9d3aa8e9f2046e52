"""A restricted unpickler for numpy arrays, for the PyPI mirror's `mnist.pkl.gz`.

Plain `pickle.load` runs whatever callable a pickle names. We check the file's pinned SHA-256
first, and on top of that admit only the globals numpy needs to rebuild plain arrays, so even a
file that slipped past the digest cannot run code. (numpy's own `allow_pickle=False` covers .npy
files, not free-standing pickles, so this small allow-list is written by hand.)
"""

import codecs
import io
import pickle

import numpy as np

from tf_rnn_mnist.data.errors import MnistDataError

# numpy 2 moved numpy.core to numpy._core; pickles name either, so both map to the same function.
_np_multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
# (module, name) pairs a pickled ndarray refers to, and the only globals this unpickler admits.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _np_multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_multiarray._reconstruct,
    # Python 3 writes bytes into a protocol-2 pickle as _codecs.encode(str, "latin1"): a pure
    # str -> bytes conversion that runs nothing.
    ("_codecs", "encode"): codecs.encode,
}
_ADMITTED = ", ".join(sorted(f"{module}.{name}" for module, name in _ALLOWED_GLOBALS))


class _NumpyOnlyUnpickler(pickle.Unpickler):

  def __init__(self, file, source_name):
    # latin1: the file was pickled by Python 2, whose str held the arrays' raw bytes.
    super().__init__(file, encoding="latin1")
    self._source_name = source_name

  def find_class(self, module, name):
    try:
      return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
      raise MnistDataError(
          f"{self._source_name} asks to load {module}.{name}, which is not a numpy array "
          "building block; refusing to unpickle it, since a pickle can run arbitrary code "
          f"through such references. Admitted: {_ADMITTED}. The file is not the one this "
          "project pins: delete it and fetch MNIST again.") from None


def load_numpy_pickle(content, source_name):
  """Unpickles `content` admitting only numpy array reconstruction."""
  try:
    return _NumpyOnlyUnpickler(io.BytesIO(content), source_name).load()
  except MnistDataError:
    raise
  except Exception as e:  # a malformed stream can fail in many pickle-internal ways
    raise MnistDataError(
        f"{source_name} is not a readable pickle of numpy arrays ({type(e).__name__}: {e}).") from None
