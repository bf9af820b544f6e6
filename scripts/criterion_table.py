#!/usr/bin/env python3
"""Turn `cargo bench -p posterior --bench operators` output into a Markdown table."""
import re
import sys

rows = {}
name = None
for line in open(sys.argv[1]):
    m = re.match(r"^(apply\+adjoint/\S+)", line)
    if m:
        name = m.group(1)
    t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if t and name:
        op, size = name[len("apply+adjoint/"):].rsplit("/", 1)
        rows.setdefault(op, {})[size] = f"{t.group(1)} {t.group(2)}"
        name = None
print("| operator spec | 256x256 | 512x512 |")
print("|---|---|---|")
for op, s in rows.items():
    if "64" in s:
        print(f"| `{op}` (64x64: m = 1024, n = 4096; dense matrices are for small sizes) | {s['64']} | – |")
    else:
        print(f"| `{op}` | {s.get('256', '–')} | {s.get('512', '–')} |")
