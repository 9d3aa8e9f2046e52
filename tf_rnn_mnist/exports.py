"""The trained model as a file a user takes away: a `.keras` file or a TF SavedModel."""

import os
import tempfile

from tf_rnn_mnist.errors import OutputError


def export_model(model, path):
  """A `.keras` file, or a TF SavedModel directory for serving. If `path` cannot be written
  at the end of a run (disk full), the model is saved as a .keras file in the temp directory
  and an OutputError names it: the trained weights are never lost."""
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
