"""Print the slowest tests of one or more JUnit XML reports (setup + call + teardown).

    python scripts/slowest.py 15 test-results/junit-sqlite.xml test-results/junit-postgresql.xml
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET  # our own reports, not untrusted input
from pathlib import Path


def main(argv: list[str]) -> int:
    count, paths = int(argv[0]), [Path(p) for p in argv[1:]]
    rows: list[tuple[float, str, str]] = []
    for path in paths:
        if not path.exists():
            continue
        phase = path.stem.removeprefix("junit-")
        for case in ET.parse(path).iter("testcase"):  # noqa: S314
            name = f"{case.get('classname')}::{case.get('name')}"
            rows.append((float(case.get("time", 0)), phase, name))
    rows.sort(reverse=True)
    print(f"== the {count} slowest tests (setup + call + teardown)")
    for seconds, phase, name in rows[:count]:
        print(f"{seconds:8.2f}s  {phase:<10}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
