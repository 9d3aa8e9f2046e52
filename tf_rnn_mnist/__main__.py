"""Every tool behind one command, as the image's entrypoint runs them:

    python -m tf_rnn_mnist [train] --variant=multilayer ...   (a first argument that is a flag:
                                                                the trainer)
    python -m tf_rnn_mnist compare|bench|migrate|convert|data|profile ...
    python -m tf_rnn_mnist legacy static_rnn --cell=gru ...    (legacy_tf1's and legacy_torch's
                                                                scripts, by name)

The tool replaces this process (os.execv): it is the process that receives the signals (under
tini in the image), and the legacy TF1 scripts start in a fresh interpreter, as they must.
"""

import os
import pkgutil
import sys

TOOLS = {"train": "tf_rnn_mnist.train", "compare": "tf_rnn_mnist.compare",
         "bench": "tf_rnn_mnist.bench", "migrate": "tf_rnn_mnist.migrate",
         "convert": "tf_rnn_mnist.convert", "data": "tf_rnn_mnist.data",
         "profile": "tf_rnn_mnist.profile"}
LEGACY_PACKAGES = ("legacy_tf1", "legacy_torch")
NOT_SCRIPTS = ("common", "input_data", "rnn_graph")  # legacy_tf1's shared modules


def legacy_scripts():
  """{script name: module} of the legacy packages."""
  found = {}
  for package in LEGACY_PACKAGES:
    module = __import__(package)
    for info in pkgutil.iter_modules(module.__path__):
      if info.name not in NOT_SCRIPTS:
        found[info.name] = f"{package}.{info.name}"
  return found


def usage():
  return (f"usage: python -m tf_rnn_mnist [TOOL] [FLAGS...]\n  TOOL: {' | '.join(TOOLS)} | "
          f"legacy SCRIPT (SCRIPT: {' | '.join(legacy_scripts())}); none, or a flag first: "
          "train.\n  TOOL --help lists its flags.")


def module_and_args(argv):
  """The module to run and its arguments, from this command's arguments."""
  if not argv or argv[0].startswith("-"):
    if argv and argv[0] in ("--help", "-h"):
      return None, []
    return TOOLS["train"], argv
  tool, rest = argv[0], argv[1:]
  if tool in TOOLS:
    return TOOLS[tool], rest
  if tool == "legacy":
    scripts = legacy_scripts()
    if not rest or rest[0] not in scripts:
      given = f"'{rest[0]}' is not one" if rest else "none was given"
      raise SystemExit(f"error: legacy needs a script name ({given}): "
                       f"{', '.join(scripts)}.")
    return scripts[rest[0]], rest[1:]
  raise SystemExit(f"error: unknown tool '{tool}'.\n{usage()}")


def main():
  module, args = module_and_args(sys.argv[1:])
  if module is None:
    print(usage())
    return
  os.execv(sys.executable, [sys.executable, "-m", module, *args])


if __name__ == "__main__":
  main()
