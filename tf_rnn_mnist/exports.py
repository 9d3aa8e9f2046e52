"""The trained model as a file a user takes away: a `.keras` file or a TF SavedModel."""


def export_model(model, path):
  """A `.keras` file, or a TF SavedModel directory for serving."""
  if path.endswith(".keras"):
    model.save(path)
  else:
    model.export(path, format="tf_saved_model")
