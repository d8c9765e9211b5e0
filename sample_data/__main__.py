"""python -m safetynet.sample_data --out DIR --persons N --seed S"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from safetynet.sample_data.generate import DEFAULT_QUARTERS, generate


def main(argv: list[str] | None = None) -> int:
    """Generate sample quarters and print the row counts per file as JSON."""
    parser = argparse.ArgumentParser(prog="python -m safetynet.sample_data",
                                     description="生成样例部门数据（含标准答案）")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--persons", type=int, default=3000, help="roster persons")
    parser.add_argument("--seed", type=int, default=20260930)
    parser.add_argument("--quarters", nargs="+", default=list(DEFAULT_QUARTERS),
                        help="as_of dates (ISO)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = generate(args.out, persons=args.persons, seed=args.seed,
                       quarters=tuple(args.quarters))
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
