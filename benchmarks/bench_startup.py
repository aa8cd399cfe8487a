"""Start-up cost of `builder summarize` against the bare import of its four dependencies.

    python benchmarks/bench_startup.py [--runs 10] [--config configs/seed_cnn.yaml] [--top 15]

Times, in interleaved subprocess runs after one warm-up each (so the page cache is warm):
- `python -m builder summarize CONFIG` (parse, compile, shape inference, the report);
- `python -c "import numpy, pydantic, yaml, click"` (the floor: what any run must import).
Prints the medians and their ratio (issue 6's target: at most 1.3), then, from
`python -X importtime`, the modules that cost the most and those summarize imports beyond
the four dependencies (candidates for lazy imports).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

from machine import OtherLoad, header_lines, load_note, source_version  # noqa: E402

TARGET = 1.3
BARE = "import numpy, pydantic, yaml, click"


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=environment(), capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"FAIL: {' '.join(command)} exited with {done.returncode}:\n{done.stderr.decode()}"
        )
    return seconds


@dataclass(frozen=True)
class Import:
    """One line of `python -X importtime`: a module, its own and cumulative microseconds."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


def import_times(command: list[str]) -> list[Import]:
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
    )
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        found.append(
            Import(
                name.strip(),
                int(self_us),
                int(cumulative_us),
                (len(name) - len(name.lstrip()) - 1) // 2,
            )
        )
    return found


def ms(us: float) -> str:
    return f"{us / 1e3:8.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=10, help="timed runs of each command (median reported)"
    )
    parser.add_argument(
        "--config", default="configs/seed_cnn.yaml", help="config, relative to the repository root"
    )
    parser.add_argument("--top", type=int, default=15, help="modules to list per import-time table")
    args = parser.parse_args(argv)
    python = sys.executable
    summarize = [python, "-m", "builder", "summarize", args.config]
    bare = [python, "-c", BARE]
    print("\n".join(header_lines({"builder": source_version(ROOT / "builder")})))

    for command in (summarize, bare):
        wall_time(command)  # warm-up: page cache, .pyc files
    times: dict[str, list[float]] = {"summarize": [], "bare": []}
    load = OtherLoad()
    for _ in range(args.runs):
        times["summarize"].append(wall_time(summarize))
        times["bare"].append(wall_time(bare))
    others = load.cpus()
    ours, floor = statistics.median(times["summarize"]), statistics.median(times["bare"])
    print(f"\nwall time, median of {args.runs} interleaved runs (min in brackets):")
    labels = {"summarize": f"builder summarize {args.config}", "bare": f'python -c "{BARE}"'}
    width = max(map(len, labels.values())) + 2
    for key, label in labels.items():
        print(
            f"  {label:<{width}}{statistics.median(times[key]) * 1e3:8.1f} ms  ({min(times[key]) * 1e3:.1f})"
        )
    verdict = "met" if ours / floor <= TARGET else "NOT met"
    print(f"  ratio: {ours / floor:.2f} (target ≤ {TARGET}: {verdict}); {load_note(others)}")

    ours_imports, bare_imports = import_times(summarize), import_times(bare)
    print(
        f"\npython -X importtime -m builder summarize {args.config}: "
        f"{len(ours_imports)} modules, {sum(i.self_us for i in ours_imports) / 1e3:.1f} ms of import time "
        f"(bare import: {len(bare_imports)} modules, {sum(i.self_us for i in bare_imports) / 1e3:.1f} ms)"
    )
    print(f"\n  top {args.top} by own time (self):")
    for item in sorted(ours_imports, key=lambda i: -i.self_us)[: args.top]:
        print(f"  {ms(item.self_us)}  {item.module}")
    print("\n  top-level imports by cumulative time:")
    for item in sorted((i for i in ours_imports if i.depth == 0), key=lambda i: -i.cumulative_us)[
        : args.top
    ]:
        print(f"  {ms(item.cumulative_us)}  {item.module}")
    floor_modules = {i.module for i in bare_imports}
    extra = [i for i in ours_imports if i.module not in floor_modules]
    print(
        f"\n  imported by summarize but not by the bare import: {len(extra)} modules, "
        f"{sum(i.self_us for i in extra) / 1e3:.1f} ms own time; the costliest:"
    )
    for item in sorted(extra, key=lambda i: -i.self_us)[: args.top]:
        print(f"  {ms(item.self_us)}  {item.module}")
    builder_modules = sorted(i.module for i in extra if i.module.startswith("builder"))
    print(f"\n  builder modules loaded ({len(builder_modules)}): {', '.join(builder_modules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
