"""The trained model as a file a user takes away: a `.keras` file or a TF SavedModel.

Input: float32 (batch, 28, 28), 28 time steps of one 28-pixel row, pixels scaled as the
variant's split scales them (x / 255). Output: float32 (batch, 10): softmax probabilities for
basic_lstm (its seed applies softmax inside the model), logits for every other variant. The
SavedModel's endpoint is `serve` (Keras's default), taking that one tensor.
"""

import os
import tempfile

from tf_rnn_mnist.errors import OutputError


def export_model(model, path, variant):
  """A `.keras` file, or a TF SavedModel directory for serving, holding only built-in Keras
  objects (models.portable_copy): it loads without this package. If `path` cannot be written
  at the end of a run (disk full), the model is saved as a .keras file in the temp directory
  and an OutputError names it: the trained weights are never lost."""
  from tf_rnn_mnist.models import portable_copy
  model = portable_copy(model, variant)
  try:
    if path.endswith(".keras"):
      model.save(path)
    else:
      model.export(path, format="tf_saved_model")
  except OSError as e:
    fallback = os.path.join(tempfile.gettempdir(), f"{model.name}-{os.getpid()}.keras")
    model.save(fallback)
    raise OutputError(f"Could not export the model to {path} ({e}); it was saved to {fallback} "
                      "instead.") from None
