"""The trained model as a file a user takes away: a `.keras` file or a TF SavedModel.

Input: float32 (batch, 28, 28), 28 time steps of one 28-pixel row, pixels scaled as the
variant's split scales them (x / 255). Output: float32 (batch, 10): softmax probabilities for
basic_lstm (its tutorial applies softmax inside the model), logits for every other variant. The
SavedModel's endpoint is `serve` (Keras's default), taking that one tensor.
"""

import contextlib
import io
import os
import tempfile

from tf_rnn_mnist.plumbing import atomic
from tf_rnn_mnist.errors import OutputError


def export_model(model, path, variant):
  """A `.keras` file, or a TF SavedModel directory for serving, holding only built-in Keras
  objects (models.portable_copy): it loads without this package.

  Written beside `path` and renamed onto it once complete, so an existing model there is
  replaced only by a whole one. If `path` cannot be written at the end of a run (disk full),
  the model is saved as a .keras file in the temp directory and an OutputError names it: the
  trained weights are never lost."""
  import tensorflow as tf
  from tf_rnn_mnist.model.models import portable_copy
  model = portable_copy(model, variant)
  try:
    _save_beside_then_rename(model, path)
  except (OSError, tf.errors.OpError) as e:
    kept = " (what was there is unchanged)" if os.path.exists(path) else ""
    fallback = atomic.unique_path(tempfile.gettempdir(), model.name, ".keras")
    try:
      model.save(fallback)
    except OSError as again:
      os.remove(fallback)  # (a truncated file would look like a model)
      raise OutputError(f"Could not export the model to {path} ({e}){kept}, nor to the temp "
                        f"directory ({again}).") from None
    raise OutputError(f"Could not export the model to {path} ({type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}){kept}; it was saved to "
                      f"{fallback} instead.") from None


def _save_beside_then_rename(model, path):
  keras_file = path.endswith(".keras")
  with atomic.staged_path(path, ".keras" if keras_file else "") as staged:  # Keras wants .keras
    if keras_file:
      model.save(staged)
    else:
      # (Keras prints "Saved artifact at <the staged name>" and the signature's TensorSpecs
      # on stdout, the run's log: that name never exists once renamed)
      with contextlib.redirect_stdout(io.StringIO()):
        model.export(staged, format="tf_saved_model")
