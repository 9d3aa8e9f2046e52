"""The README's generated tables, each from the result file it names:

    python -m tf_rnn_mnist.tools.readme_tables --readme=README.md

rewrites every block that opens with `<!-- KIND FILE.json -->` and closes with `<!-- /KIND -->`
as KIND's table of that file: `bench-table` (a bench JSON: bench_report.readme_table),
`variants-table` (variants.py and the kept compare results: compare_results.readme_table).
tests keep the README's blocks equal to their files, so a figure edited by hand fails there.
"""

import json
import os
import re
import sys

from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.tools import bench_report, compare_results

# kind: (its table of a file's content and path, what the file must be)
KINDS = {"bench-table": (bench_report.readme_table, "bench --json's output"),
         "variants-table": (compare_results.readme_table, "compare_results' kept file")}


def _block(kind):
  return re.compile(rf"(<!-- {kind} (\S+) -->\n)((?:(?!<!-- {kind} ).)*?)(<!-- /{kind} -->)",
                    re.S)


def blocks(text):
  """[(kind, file)] of every generated block in `text`."""
  return [(kind, m.group(2)) for kind in KINDS for m in _block(kind).finditer(text)]


def _generated(kind, match, root):
  render, what = KINDS[kind]
  path = match.group(2)
  try:
    with open(os.path.join(root, path)) as f:
      content = json.load(f)
  except ValueError as e:
    raise ConfigError(f"a {kind} names {path}, which is not JSON ({e}).") from None
  try:
    return match.group(1) + render(content, path) + match.group(4)
  except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:
    detail = f"no key {e}" if isinstance(e, KeyError) else "its content has another shape"
    raise ConfigError(f"a {kind} names {path}, which is not {what} ({detail}).") from None


def regenerate(text, root):
  """`text` (a README) with every block made anew from its file under `root`; a marker
  without its pair is an error, not a block silently eaten."""
  for kind in KINDS:
    opened, closed = text.count(f"<!-- {kind} "), text.count(f"<!-- /{kind} -->")
    if opened != closed or len(_block(kind).findall(text)) != opened:
      raise ConfigError(f"{opened} '<!-- {kind} FILE -->' markers and {closed} "
                        f"'<!-- /{kind} -->' markers, not in pairs each on a line of its own; "
                        "each table opens with the first and closes with the second.")
    text = _block(kind).sub(lambda m, kind=kind: _generated(kind, m, root), text)
  return text


def main(argv):
  if len(argv) != 2 or not argv[1].startswith("--readme="):
    sys.exit("usage: python -m tf_rnn_mnist.tools.readme_tables --readme=README.md")
  path = argv[1].split("=", 1)[1]
  try:
    with open(path) as f:
      text = f.read()
    if not blocks(text):
      raise ConfigError(f"no '<!-- KIND FILE -->' block to regenerate (kinds: "
                        f"{', '.join(KINDS)}).")
    new = regenerate(text, os.path.dirname(os.path.abspath(path)))
  except (ConfigError, OSError, ValueError) as e:
    sys.exit(f"error: {path}: {e}")
  from tf_rnn_mnist.plumbing import atomic
  with atomic.staged_path(path) as staged, open(staged, "w") as f:
    f.write(new)
  print(f"{path}: {len(blocks(text))} tables regenerated.")


if __name__ == "__main__":
  main(sys.argv)
