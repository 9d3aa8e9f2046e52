"""What every command-line entry point shares: user errors as one line, writable outputs."""

import os
import sys
import tempfile

from absl import app

from tf_rnn_mnist.data.errors import MnistDataError
from tf_rnn_mnist.errors import (ConfigError, Interrupted, MismatchError, OutputError,
                                 TrainingError)

# Mistakes a user can fix: printed as `error: ...` with exit status 1, never a traceback.
USER_ERRORS = (ConfigError, MnistDataError, TrainingError, OutputError, MismatchError)


def run_tool(main, positional=0):
  """absl's app.run(main), refusing arguments beyond `positional` ones and turning
  USER_ERRORS into `error: <message>` and exit 1, and a graceful stop on a signal into
  exit 128 + signal."""
  def main_with_clear_errors(argv):
    if len(argv) > 1 + positional:
      raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1 + positional:])}")
    try:
      return main(argv)
    except USER_ERRORS as e:
      sys.exit(f"error: {e}")
    except Interrupted as e:  # SIGTERM / SIGINT: 143 / 130, as a shell reports a signal
      print(str(e), file=sys.stderr, flush=True)
      sys.exit(e.exit_code)
  app.run(main_with_clear_errors)


def check_writable_dir(flag, directory):
  """Creates `directory` if needed and proves a file can be written in it."""
  try:
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory):
      pass
  except OSError as e:
    raise ConfigError(f"--{flag}={directory} is not a writable directory: {e}.") from None


def check_writable_file(flag, path, what="a file path"):
  """`path` can be written as a file: not a directory, its directory exists (or is made) and
  takes files, and an existing file there may be replaced."""
  if os.path.isdir(path):
    raise ConfigError(f"--{flag}={path} is an existing directory; pass {what}.")
  check_writable_dir(flag, os.path.dirname(os.path.abspath(path)))
  if os.path.exists(path) and not os.access(path, os.W_OK):
    raise ConfigError(f"--{flag}={path} exists and is not writable.")


def check_optional_outputs(**outputs):
  """check_writable_dir for each given output directory, `flag=path` (None: not asked for)."""
  for flag, directory in outputs.items():
    if directory:
      check_writable_dir(flag, directory)
