"""Peak RSS growth per sample of one chunk, per engine, against builder's estimate.

    python benchmarks/bench_engine_memory.py [--chunks 16 64 256] [--engines numpy onnxruntime]
        [--configs configs/seed_cnn.yaml configs/small_vgg.yaml] [--runs 3]

For each (config, engine, chunk size) a fresh subprocess loads the model, builds the engine
(the onnxruntime session) and runs one warm-up sample, allocates the chunk's input, then
resets the kernel's peak-RSS mark (`/proc/self/clear_refs` ← 5) and runs `predict` on the
chunk once (one chunk: batch_size = chunk). Reported: (VmHWM − VmRSS before the pass)
/ chunk, the measured growth per sample, beside `Model.work_bytes_per_sample()` (the
plan's estimate that `--max-memory` uses for both engines). The growth includes the
output array. `--weights` measures instead the peak RSS growth of building the engine
(and one sample) per weight byte, on three weight-heavy nets (`weight_copies`).
Run with the allocator settings of your choice; the script prints the ones it saw.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CONFIGS = ("configs/seed_cnn.yaml", "configs/small_vgg.yaml")

CHILD = r"""
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
import builder

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)

model = builder.load({config!r}, engine={engine!r})
chunk = {chunk}
rng = np.random.default_rng(0)
x = rng.standard_normal((chunk, *model.input_shape)).astype(model.dtype)
model.predict(x[:1])  # weights, session, first-run allocations
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # peak RSS mark := current RSS
model.predict(x, batch_size=chunk)
peak = status("VmHWM")
print(json.dumps({{"growth": peak - before, "plan": model.work_bytes_per_sample()}}))
"""


WEIGHT_NETS = {
    "dense 192 MiB": "input_shape: [2048]\nlayers:\n  - Dense: {units: 8192}\n"
    "  - Dense: {units: 4096}\n",
    "conv3x3 72 MiB": "input_shape: [4, 4, 512]\nlayers:\n"
    + "  - Conv2D: {filters: 512, kernel_size: 3, padding: same}\n" * 8,
    "conv+bn+dense 78 MiB": "input_shape: [8, 8, 256]\nlayers:\n"
    + "  - Conv2D: {filters: 256, kernel_size: 3, padding: same}\n  - BatchNormalization\n" * 6
    + "  - Flatten\n  - Dense: {units: 1024}\n",
}

CHILD_WEIGHTS = r"""
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
import builder

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)

model = builder.load({config!r}, engine={engine!r})
model.weights  # the model's own NumPy copy
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
model.predict(np.zeros((1, *model.input_shape), model.dtype))  # builds the session
print(json.dumps({{"growth": status("VmHWM") - before, "weights": model.weight_bytes()}}))
"""


def measure_weights(config: str, engine: str) -> float:
    """Peak RSS growth of building the engine and running one sample, per weight byte."""
    code = CHILD_WEIGHTS.format(root=str(ROOT), config=config, engine=engine)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return float(found["growth"] / found["weights"])


def measure(config: str, engine: str, chunk: int) -> dict[str, int]:
    code = CHILD.format(root=str(ROOT), config=str(ROOT / config), engine=engine, chunk=chunk)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--engines", nargs="+", default=["numpy", "onnxruntime"])
    parser.add_argument("--runs", type=int, default=3, help="the median of this many runs")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--weights", action="store_true", help="weight copies instead")
    args = parser.parse_args()
    seen = {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "OMP_", "OPENBLAS"))}
    print(f"environment: {seen or 'no MALLOC_/OMP_/OPENBLAS variables'}; cpus={os.cpu_count()}")
    if args.weights:
        for label, config in WEIGHT_NETS.items():
            for engine in args.engines:
                found = sorted(measure_weights(config, engine) for _ in range(args.runs))
                print(f"{label:22} {engine:12} peak growth {found[len(found) // 2]:.2f}x weights")
        return
    print(f"{'config':22} {'engine':12} {'chunk':>5} {'growth/sample':>14} {'plan':>10} "
          f"{'growth/plan':>11}")  # fmt: skip
    for config in args.configs:
        for engine in args.engines:
            for chunk in args.chunks:
                runs = sorted(
                    (measure(config, engine, chunk) for _ in range(args.runs)),
                    key=lambda r: r["growth"],
                )
                found = runs[len(runs) // 2]
                per_sample = found["growth"] / chunk
                print(
                    f"{Path(config).stem:22} {engine:12} {chunk:5d} {per_sample / 1024:11.1f} KiB"
                    f" {found['plan'] / 1024:7.1f} KiB {per_sample / found['plan']:11.2f}"
                )


if __name__ == "__main__":
    main()
