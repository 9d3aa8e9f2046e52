"""TensorFlow's C++ notices, kept off a tool's output unless --verbose is given.

TensorFlow 2.21 logs through absl's C++ logging, which ignores TF_CPP_MIN_LOG_LEVEL (tensorflow
issue #100442): every start prints absl's "All log messages before absl::InitializeLog()" line,
the oneDNN notice, "Could not find cuda drivers" or "failed call to cuInit" on a CPU host, and
every checkpoint a "Sharding callback duration" line. Only the file descriptor they are written
to can be filtered: stderr (fd 2) becomes a pipe that a small child process copies to the real
stderr, leaving out the lines it positively recognises as those notices (their formats below).
Everything else passes, in order: Python's own lines, fatal lines (F...), crash reports.

A child, not a thread: when the tool dies (a segfault, an abort, os._exit), the child still
reads what the tool wrote up to its last byte and forwards it. At an exit the tool writes a
marker and waits (milliseconds) for the child to say it forwarded everything up to it: in a
container, the child ends with the tool's PID namespace and must not take the last lines
with it; nor is the end of the pipe waited for (a grandchild may hold it open).
"""

import atexit
import os
import subprocess
import sys

# The notices TensorFlow 2.21 prints on a CPU host, by the source that prints them: only these
# are left out. Any other line passes (a C++ error, a fatal line, a crash report). Measured
# 2026-12-05: TF_CPP_MIN_LOG_LEVEL=3 silences only cpu_feature_guard's and cuInit's lines;
# the absl lines before InitializeLog (oneDNN, CUDA probing) print at every level, and
# tf.get_logger() governs Python's logging alone (filtered by the tools, cli.py).
KNOWN_SOURCES = (r"port\.cc|cudart_stub\.cc|cuda_platform\.cc|cpu_feature_guard\.cc|"
                 r"mlir_graph_optimization_pass\.cc|util\.cc:131\] oneDNN supports")
NATIVE_NOTICE = (
    r"(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    r"STDERR$"
    # absl C++ logging before InitializeLog (never called by TensorFlow): date 0000, time
    # 00:00:<epoch>; absl's Python logging (this project's own lines) has a real date and time.
    # Fatal lines (F...) are never notices: they explain an abort.
    rf"|[IWE]0000 00:00:\d+\.\d+ +\d+ ({KNOWN_SOURCES})"
    rf"|\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] [^ \]]*({KNOWN_SOURCES})"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate "
    r"compiler flags\.$"  # the second line of cpu_feature_guard's notice
    r")")

# The child: stdin the pipe, stdout the real stderr. Its own session, so that a Ctrl-C or a
# process-group signal meant for the tool does not end it before it has forwarded the tool's
# last lines; it ends at the pipe's end of file.
_COPY = r"""
import os, re, sys
notice = re.compile(sys.argv[1].encode())
ack, marker = int(sys.argv[2]), sys.argv[3].encode()
pending = b""
def write(data):
    try:
        while data:
            data = data[os.write(1, data):]
    except OSError:
        pass
while True:
    try:
        chunk = os.read(0, 65536)
    except OSError:
        break
    if not chunk:
        break
    lines = (pending + chunk).split(b"\n")
    pending = lines.pop()
    kept, asked = [], False
    for line in lines:
        if line.endswith(marker):  # (after another thread's unfinished line, maybe)
            line, asked = line[:-len(marker)], True
            if not line:
                continue
        if not notice.match(line):
            kept.append(line + b"\n")
    if kept:
        write(b"".join(kept))
    if asked:
        try:
            os.write(ack, b"1")
        except OSError:
            pass
if pending and not notice.match(pending):
    write(pending)
"""

_filter = None
_MARKER = "\x01tf_rnn_mnist: flushed\x01"
_FLUSH_WAIT = 2.0  # seconds at most; the child answers in milliseconds


def _stderr_open():
  try:
    os.fstat(2)
    return True
  except OSError:
    return False


class _StderrFilter:
  def __init__(self):
    self.real = os.dup(2)
    read_fd, write_fd = os.pipe()
    self.ack, ack_write = os.pipe()
    self.child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _COPY, NATIVE_NOTICE, str(ack_write), _MARKER],
        stdin=read_fd, stdout=self.real, stderr=subprocess.DEVNULL, start_new_session=True,
        pass_fds=(ack_write,))
    os.close(read_fd)
    os.close(ack_write)
    sys.stderr.flush()
    os.dup2(write_fd, 2)
    os.close(write_fd)

  def close(self):
    """Waits (milliseconds) until the child has forwarded everything written so far, then
    puts the real stderr back."""
    import select
    try:
      sys.stderr.flush()
    except (OSError, ValueError):
      pass
    try:
      os.write(2, (_MARKER + "\n").encode())
      select.select([self.ack], [], [], _FLUSH_WAIT)
    except OSError:
      pass
    os.dup2(self.real, 2)
    os.close(self.ack)


def filter_stderr():
  """Leaves TensorFlow's C++ notices out of stderr from now on (once per process). A closed
  stderr (`2>&-`) is not an error: it is pointed at /dev/null, so that no file the tool opens
  takes its descriptor and receives TensorFlow's notices."""
  global _filter
  if not _stderr_open():
    null = os.open(os.devnull, os.O_WRONLY)
    if null != 2:
      os.dup2(null, 2)
      os.close(null)
    if sys.stderr is None:  # (Python found no stderr at start: its messages go nowhere)
      sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    return
  if _filter is None:
    _filter = _StderrFilter()
    atexit.register(flush)


def real_stderr():
  """The process's real stderr (a file descriptor), unfiltered: for a child that must be able
  to write while this process cannot run Python (worker_wait.py)."""
  return _filter.real if _filter is not None else 2


def flush():
  """Before the process ends (os._exit after a stop, or at exit): everything written so far
  forwarded by the child."""
  global _filter
  if _filter is not None:
    _filter.close()
    _filter = None
