#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""README.md, CHANGELOG.md and every page in docs/: each relative link names a file or
folder that exists, and each #anchor a heading of its target (GitHub's slugs); the README
stays within 300 lines; the version in meson.build is node/package.json's and has a
CHANGELOG section (or the changelog has an Unreleased one on top of the last).
Usage: docs_links_test.py SOURCE_ROOT VERSION"""
import json
import pathlib
import re
import sys

import checks
from checks import check, finish

root, version = pathlib.Path(sys.argv[1]), sys.argv[2]
pages = [root / "README.md", root / "CHANGELOG.md"] + sorted((root / "docs").glob("*.md"))


def slugs(md):
    """The anchors GitHub makes of a page's headings."""
    seen, out = {}, set()
    text = re.sub(r"^```.*?^```", "", md.read_text(), flags=re.M | re.S)
    for m in re.finditer(r"^#{1,6} +(.+?) *#*$", text, re.M):
        s = re.sub(r"<[^>]+>", "", m.group(1)).strip().lower()
        s = re.sub(r"[^\w\- ]", "", s).replace(" ", "-")
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


links = 0
for page in pages:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        links += 1
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(root)}: ({target})"
        if not check(dest.exists(), f"{where} names something that exists", quiet=True):
            continue
        if anchor:
            check(dest.suffix == ".md" and anchor in slugs(dest),
                  f"{where}: #{anchor} is a heading of {dest.name}", quiet=True)

readme_lines = len((root / "README.md").read_text().splitlines())
check(readme_lines <= 300, f"README.md has {readme_lines} lines (at most 300)")

package = json.loads((root / "node" / "package.json").read_text())
check(package["version"] == version,
      f"node/package.json's version ({package['version']}) is meson.build's ({version})")
changelog = (root / "CHANGELOG.md").read_text()
sections = re.findall(r"^## +(\S+)", changelog, re.M)
check(bool(sections) and (sections[0] == version or
                          (sections[0] == "Unreleased" and version in sections[1:2])),
      f"CHANGELOG.md's top sections {sections[:2]} are Unreleased then {version}, or {version}")
finish(f"{len(pages)} pages, {links} relative links, {len(checks.failures)} problems")
