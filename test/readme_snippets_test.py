#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every C, C++ and JavaScript code block in README.md and in docs/*.md is part of a program
in examples/ (the test command builds and runs them), so a snippet cannot drift into
something that does not compile. Lines are compared without their indentation; blank
lines are ignored.
Usage: readme_snippets_test.py SOURCE_ROOT examples/"""
import pathlib
import re
import sys

import checks
from checks import check, finish

root, examples = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
pages = [root / "README.md"] + sorted((root / "docs").glob("*.md"))


def lines(text):
    return [l.strip() for l in text.splitlines() if l.strip()]


sources = {p: lines(p.read_text()) for p in examples.rglob("*") if p.suffix in (".c", ".cpp", ".js")}
blocks = [(page, lang, body) for page in pages
          for lang, body in re.findall(r"^```(c|cpp|js)\n(.*?)^```$", page.read_text(), re.M | re.S)]
for page, lang, body in blocks:
    want = lines(body)
    home = [p for p, have in sources.items()
            if any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))]
    check(bool(home), f"{page.name}: ```{lang} block starting '{want[0]}'" +
          (f" is in {home[0]}" if home else " is in no file of examples/"))
langs = {(page.name, lang) for page, lang, _ in blocks}
check({("README.md", "cpp"), ("README.md", "js"), ("c-api.md", "c"), ("node.md", "js")} <= langs,
      f"the README's C++ and Node snippets, the C API's and the Node page's are there: {sorted(langs)}")
finish(f"{len(blocks)} snippets, {len(checks.failures)} problems")
