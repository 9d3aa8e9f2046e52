"""What every command-line entry point shares: user errors as one line, writable outputs."""

import os
import sys
import tempfile

from absl import app

from tf_rnn_mnist.data.errors import MnistDataError
from tf_rnn_mnist.errors import ConfigError, TrainingError

# Mistakes a user can fix: printed as `error: ...` with exit status 1, never a traceback.
USER_ERRORS = (ConfigError, MnistDataError, TrainingError)


def run_tool(main):
  """absl's app.run(main), refusing stray arguments and turning USER_ERRORS into
  `error: <message>` and exit 1."""
  def main_with_clear_errors(argv):
    if len(argv) > 1:
      raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
      return main(argv)
    except USER_ERRORS as e:
      sys.exit(f"error: {e}")
  app.run(main_with_clear_errors)


def check_writable_dir(flag, directory):
  """Creates `directory` if needed and proves a file can be written in it."""
  try:
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory):
      pass
  except OSError as e:
    raise ConfigError(f"--{flag}={directory} is not a writable directory: {e}.") from None


def check_writable_file(flag, path):
  """The directory of an output file exists (or is made) and takes files."""
  check_writable_dir(flag, os.path.dirname(os.path.abspath(path)))
