"""TensorFlow's C++ notices, kept off a tool's output unless --verbose is given.

TensorFlow 2.21 logs through absl's C++ logging, which ignores TF_CPP_MIN_LOG_LEVEL (tensorflow
issue #100442): every start prints absl's "All log messages before absl::InitializeLog()" line,
the oneDNN notice, "Could not find cuda drivers" or "failed call to cuInit" on a CPU host, and
every checkpoint a "Sharding callback duration" line. Only the file descriptor they are written
to can be filtered: stderr (fd 2) becomes a pipe that a thread copies to the real stderr,
leaving out those lines (their formats below). Fatal lines (F...) are kept: they explain an
abort. Python's own output passes unchanged.
"""

import atexit
import os
import re
import sys
import threading

NATIVE_NOTICE = re.compile(
    rb"(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR"
    # absl C++ logging before InitializeLog (never called by TensorFlow): date 0000, time
    # 00:00:<epoch>; absl's Python logging (this project's own lines) has a real date and time.
    rb"|[IWE]0000 00:00:\d+\.\d+ +\d+ [^ \]]+:\d+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] [^ \]]+:\d+\] "  # TensorFlow's own
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate "
    rb"compiler flags\.$"  # the second line of cpu_feature_guard's notice
    rb")")

_filter = None


class _StderrFilter:
  def __init__(self):
    self.real = os.dup(2)
    read_fd, write_fd = os.pipe()
    sys.stderr.flush()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    self.thread = threading.Thread(target=self._copy, args=(read_fd,), daemon=True,
                                   name="native-log-filter")
    self.thread.start()

  def _copy(self, read_fd):
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
      pending = b""
      while chunk := pipe.read(65536):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        kept = [line + b"\n" for line in lines if not NATIVE_NOTICE.match(line)]
        if kept:
          self._write(b"".join(kept))
      if pending and not NATIVE_NOTICE.match(pending):
        self._write(pending)

  def _write(self, data):
    # A closed or full reader must not stop the copying: the pipe would fill and every write
    # to stderr (TensorFlow's threads included) would block.
    try:
      while data:
        data = data[os.write(self.real, data):]
    except OSError:
      pass

  def close(self, timeout=1.0):
    """Puts the real stderr back and waits (briefly) for what is in the pipe to be copied."""
    sys.stderr.flush()
    os.dup2(self.real, 2)  # the pipe's last writer closes: the thread reads the rest and ends
    self.thread.join(timeout)


def filter_stderr():
  """Leaves TensorFlow's C++ notices out of stderr from now on (once per process)."""
  global _filter
  if _filter is None:
    _filter = _StderrFilter()
    atexit.register(flush)


def real_stderr():
  """The process's real stderr (a file descriptor), unfiltered: for a child that must be able
  to write while this process cannot run Python (worker_wait.py)."""
  return _filter.real if _filter is not None else 2


def flush():
  """Before the process ends (atexit, or os._exit after a stop): everything written so far
  reaches the real stderr."""
  global _filter
  if _filter is not None:
    _filter.close()
    _filter = None
