"""One run per directory: an advisory lock held for the life of the process.

`fcntl.flock` locks belong to the open file, so the kernel drops them when the process ends
however it ends (SIGKILL included): a killed run never leaves a stale lock, and no "remove the
lock file" step exists. The file keeps the holder's description, so a refused run can say who
holds the directory. Advisory: only runs of this project look at it.
"""

import datetime
import fcntl
import os
import socket
import sys

from tf_rnn_mnist.errors import ConfigError

LOCK_NAME = ".run.lock"


class RunLock:
  """Holds `directory`'s lock from `acquire()` (or `with`) until `release()` or exit."""

  def __init__(self, directory, flag):
    self.directory, self.flag = directory, flag
    self.path = os.path.join(directory, LOCK_NAME)
    self._file = None

  def acquire(self):
    os.makedirs(self.directory, exist_ok=True)
    lock_file = open(self.path, "a+")  # never truncated before the lock is ours
    try:
      fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock_file.seek(0)
      holder = lock_file.read().strip() or "a process that has not yet written its name"
      lock_file.close()
      raise ConfigError(
          f"--{self.flag}={self.directory} is in use by another run ({holder}). Two runs in "
          f"one directory would overwrite each other's files: wait for it to end, or pass "
          f"another --{self.flag}.") from None
    lock_file.seek(0)
    lock_file.truncate()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    lock_file.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}: "
                    f"{' '.join(sys.argv)}\n")
    lock_file.flush()
    self._file = lock_file
    return self

  def release(self):
    if self._file is not None:
      self._file.close()  # closing drops the flock
      self._file = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
