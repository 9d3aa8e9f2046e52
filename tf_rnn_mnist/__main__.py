"""Every tool behind one command, as the image's entrypoint runs them:

    python -m tf_rnn_mnist                                    (its usage: the tools, one line
                                                                each)
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

TOOLS = {"train": "tf_rnn_mnist.train", "compare": "tf_rnn_mnist.tools.compare",
         "bench": "tf_rnn_mnist.tools.bench", "migrate": "tf_rnn_mnist.migrate",
         "convert": "tf_rnn_mnist.tools.convert", "data": "tf_rnn_mnist.tools.data",
         "profile": "tf_rnn_mnist.tools.profile"}
# What each tool does for a user, in the usage's one line.
SUMMARIES = {
    "train": "train a tutorial's model in Keras 3 (the main job)",
    "compare": "v1 (the tutorial's program) against v2 (this port) over many random seeds",
    "bench": "training speed against the tutorial's program, Keras fit, JAX and PyTorch",
    "migrate": "move your own TF1 recurrent model to Keras 3, and prove it computes the same",
    "convert": "TF1 checkpoints and PyTorch state dicts of the tutorials <-> Keras weights",
    "data": "fetch and check MNIST",
    "profile": "where one update's time goes (an op table of a profiler trace)",
    "legacy": "run a tutorial's own program (TF1 graph on tf.compat.v1, or PyTorch)"}
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
  tools = "\n".join(f"  {name:<9}{text}" for name, text in SUMMARIES.items())
  return ("usage: python -m tf_rnn_mnist TOOL [FLAGS...]   (a flag first: train)\n\n"
          f"{tools}\n\n"
          "The main job: python -m tf_rnn_mnist train --variant=multilayer\n"
          "TOOL --help says what the tool does and lists its flags; legacy --help lists the "
          "tutorials' programs.")


def legacy_usage():
  return ("usage: python -m tf_rnn_mnist legacy SCRIPT [FLAGS...]: a tutorial's own program\n"
          + "\n".join(f"  {name:<16}{module}" for name, module in legacy_scripts().items())
          + "\nSCRIPT --help lists its flags.")


def module_and_args(argv):
  """The module to run and its arguments, from this command's arguments; (None, text): print
  the text and exit 0 (no arguments, --help)."""
  if not argv or argv[0] in ("--help", "-h"):
    return None, usage()
  if argv[0].startswith("-"):
    return TOOLS["train"], argv
  tool, rest = argv[0], argv[1:]
  if tool in TOOLS:
    return TOOLS[tool], rest
  if tool == "legacy":
    scripts = legacy_scripts()
    if rest[:1] in (["--help"], ["-h"]):
      return None, legacy_usage()
    if not rest or rest[0] not in scripts:
      given = f"'{rest[0]}' is not one" if rest else "none was given"
      raise SystemExit(f"error: legacy needs a script name ({given}): "
                       f"{', '.join(scripts)}.")
    return scripts[rest[0]], rest[1:]
  raise SystemExit(f"error: unknown tool '{tool}'.\n{usage()}")


def main():
  module, args = module_and_args(sys.argv[1:])
  if module is None:
    print(args)
    return
  os.execv(sys.executable, [sys.executable, "-m", module, *args])


if __name__ == "__main__":
  main()
