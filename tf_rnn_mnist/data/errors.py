"""The one exception type the data layer raises for anything the user can fix."""


class MnistDataError(Exception):
  """MNIST could not be loaded; the message says what was wrong and what is accepted."""
