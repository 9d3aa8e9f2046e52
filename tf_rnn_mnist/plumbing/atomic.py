"""Writing an output so that it is never seen half-written, and never destroys what was there
unless the new one is complete: written beside its path under a hidden name, then renamed
onto it (a rename within one directory is atomic)."""

import contextlib
import hashlib
import os
import shutil
import tempfile

# What the staged names add to a directory's path: a name of at most this many bytes.
STAGED_NAME_BYTES = 48


def unique_path(directory, stem, suffix):
  """A new file's path in `directory` that no other process took (PIDs repeat across
  containers, so `stem-PID` is not enough): created empty, to be written over."""
  # (a stem of the longest legal name would make mkstemp's name too long for the filesystem)
  fd, path = tempfile.mkstemp(dir=directory, prefix=f"{stem[:64]}-", suffix=suffix[:16])
  os.close(fd)
  return path


def user_mode():
  """0666 under the user's umask: the mode any file they asked for gets (mkstemp's is 0600)."""
  umask = os.umask(0)
  os.umask(umask)
  return 0o666 & ~umask


@contextlib.contextmanager
def staged_path(path, suffix=""):
  """Yields a path beside `path` to write to (ending in `suffix`: some writers insist on one);
  when the block ends without an error, it is renamed onto `path`; otherwise it is removed."""
  # A symbolic link keeps pointing where it did: its target is what gets replaced.
  path = os.path.realpath(path.rstrip(os.sep))
  directory, name = os.path.split(path)
  # A short name, whatever the output's: `.NAME.PID.partial` of a legal 250-byte NAME is not.
  digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
  staged = os.path.join(directory, f".{digest}.{os.getpid()}.partial{suffix[:16]}")
  try:
    yield staged
    if os.path.isfile(staged):
      os.chmod(staged, user_mode())
    os.replace(staged, path)  # a directory replaces only an empty one
  finally:
    if os.path.isdir(staged):
      shutil.rmtree(staged, ignore_errors=True)
    elif os.path.exists(staged):
      os.unlink(staged)
