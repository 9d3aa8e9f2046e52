"""One run per directory: an advisory lock held for the life of the process.

The lock is `fcntl.flock` on the directory itself (an open descriptor of it), not on a file in
it: deleting or replacing a lock file cannot free the directory for a second run. A flock
belongs to the open descriptor, so the kernel drops it when the process ends however it ends
(SIGKILL included): a killed run never leaves a stale lock. The file `.run.lock` only tells a
refused run who holds the directory; the holder writes it again if it was deleted. Where a
filesystem cannot lock a directory (NFS maps flock to POSIX locks, which need a file open for
writing), the lock falls back to `.run.lock` itself. Advisory: only this project's runs look.
"""

import datetime
import errno
import fcntl
import os
import socket
import sys

from tf_rnn_mnist.errors import ConfigError

LOCK_NAME = ".run.lock"


def held_by_another_run(directory):
  """Whether a run other than this process's parent holds `directory`'s lock now (a shared
  lock taken and dropped at once fails against the holder's exclusive one; no holder is
  delayed by more than that). The parent's is not another run's: `compare` holds its --out,
  where the runs it starts write."""
  for path, flags in ((directory, os.O_RDONLY | os.O_DIRECTORY),
                      (os.path.join(directory, LOCK_NAME), os.O_RDONLY)):
    try:
      fd = os.open(path, flags)
    except OSError:
      continue
    try:
      fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
      return not _held_by_parent(directory)
    except OSError:
      pass
    finally:
      os.close(fd)
  return False


def _held_by_parent(directory):
  """Whether the lock description names this process's parent, on this host, as holder."""
  try:
    with open(os.path.join(directory, LOCK_NAME), errors="replace") as f:
      holder = f.read()
  except OSError:
    return False
  return holder.startswith(f"pid {os.getppid()} on {socket.gethostname()},")


def check_outside_locked_runs(outputs, own=None):
  """Refuses an output `{flag: path}` inside a directory another run holds (its model_dir):
  the two runs' files would mix (TensorBoard scalars, results). `own`: this run's model_dir,
  whose lock RunLock takes (and refuses there if another run holds it)."""
  own = os.path.abspath(own) if own else None
  for flag, path in outputs.items():
    if not path:
      continue
    directory = os.path.abspath(path)
    while True:
      if directory != own and os.path.isdir(directory) and held_by_another_run(directory):
        raise ConfigError(f"--{flag}={path} is inside {directory}, which another run holds "
                          "(its --model_dir): the two runs' files would mix. Pass a path "
                          "outside it.")
      parent = os.path.dirname(directory)
      if parent == directory:
        break
      directory = parent


class RunLock:
  """Holds `directory`'s lock from `acquire()` (or `with`) until `release()` or exit."""

  def __init__(self, directory, flag):
    self.directory, self.flag = directory, flag
    self.path = os.path.join(directory, LOCK_NAME)
    self._fd = None
    self._locked = None  # the path locked (the directory, or .run.lock) and its identity

  def _refuse(self):
    try:
      with open(self.path) as f:
        holder = f.read().strip()
    except OSError:
      holder = ""
    raise ConfigError(
        f"--{self.flag}={self.directory} is in use by another run "
        f"({holder or 'its description file was removed'}). Two runs in one directory would "
        f"overwrite each other's files: wait for it to end, or pass another --{self.flag}.")

  def _lock(self, path, flags):
    fd = os.open(path, flags, 0o666)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException as e:
      os.close(fd)
      if isinstance(e, BlockingIOError):
        self._refuse()
      raise
    stat = os.fstat(fd)
    self._fd, self._locked = fd, (path, (stat.st_dev, stat.st_ino))

  def acquire(self):
    try:
      os.makedirs(self.directory, exist_ok=True)
      try:
        self._lock(self.directory, os.O_RDONLY | os.O_DIRECTORY)
      except OSError as e:
        if e.errno not in (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
          raise
        self._lock(self.path, os.O_RDWR | os.O_CREAT)  # no directory locks on this filesystem
    except OSError as e:
      raise ConfigError(f"--{self.flag}={self.directory} cannot be locked for this run: "
                        f"{e}.") from None
    self._describe()
    return self

  def _describe(self):
    started = datetime.datetime.now().isoformat(timespec="seconds")
    try:
      # O_NOFOLLOW: a symbolic link planted as .run.lock must not redirect the write.
      fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
      # (surrogateescape: a path argument need not be UTF-8)
      with os.fdopen(fd, "w", errors="surrogateescape") as f:
        f.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}: "
                f"{' '.join(sys.argv)}\n")
    except OSError as e:
      self.release()
      kind = ("a symbolic link" if os.path.islink(self.path) else "a directory"
              if os.path.isdir(self.path) else None)
      problem = (f"{self.path} is {kind}, not this project's lock description; remove it"
                 if kind else f"cannot write {self.path} ({e}); the directory must be "
                 "writable")
      raise ConfigError(f"--{self.flag}={self.directory}: {problem}.") from None

  def check(self):
    """Before each write into the directory: what was locked is still there (not deleted or
    replaced, when another run could have locked its replacement); the description file is
    written again if it was deleted."""
    if self._fd is None:
      return
    path, identity = self._locked
    try:
      stat = os.stat(path)
      same = (stat.st_dev, stat.st_ino) == identity
    except FileNotFoundError:
      same = False
    if not same:
      raise ConfigError(f"--{self.flag}={self.directory}: its lock ({path}) was removed or "
                        "replaced during the run, so another run may be writing there; this "
                        "run writes nothing more into it.")
    if not os.path.exists(self.path):
      self._describe()

  def release(self):
    if self._fd is not None:
      os.close(self._fd)  # closing drops the flock
      self._fd = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
