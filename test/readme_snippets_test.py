#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every C, C++ and JavaScript code block in README.md is part of a program in examples/ (the test
command builds and runs them), so a snippet cannot drift into something that does not
compile. Lines are compared without their indentation; blank lines are ignored.
Usage: readme_snippets_test.py README.md examples/"""
import pathlib
import re
import sys

import checks
from checks import check, finish

readme, examples = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])


def lines(text):
    return [l.strip() for l in text.splitlines() if l.strip()]


sources = {p: lines(p.read_text()) for p in examples.rglob("*") if p.suffix in (".c", ".cpp", ".js")}
blocks = re.findall(r"^```(c|cpp|js)\n(.*?)^```$", readme.read_text(), re.M | re.S)
for lang, body in blocks:
    want = lines(body)
    home = [p for p, have in sources.items()
            if any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))]
    check(bool(home), f"```{lang} block starting '{want[0]}'" +
          (f" is in {home[0]}" if home else " is in no file of examples/"))
check(len(blocks) >= 2, f"the C and the C++ snippets are there ({len(blocks)} blocks)")
finish(f"{len(blocks)} snippets, {len(checks.failures)} problems")
