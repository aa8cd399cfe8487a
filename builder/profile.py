"""`builder run --profile`: where the time of a forward pass goes, step by step.

`Model.forward` calls `Profile.record` with each step of the plan and the seconds it took
(the hook is `Model.step_timer`, unset unless profiling). A step is one layer, or, after
the plan's pool-first rewrite, a max pooling with the activation it absorbed
(`max_pooling2d (MaxPooling2D) + leaky_re_lu`). GFLOP/s counts two floating-point
operations per multiply-accumulate: 2 · MACs per sample · samples / seconds / 1e9.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.plan import Plan, Step


@dataclass
class Profile:
    """Seconds spent in each step of `plan`, summed over every chunk of a run."""

    plan: Plan
    seconds: dict[str, float] = field(default_factory=dict)

    def record(self, step: Step, seconds: float) -> None:
        self.seconds[step.output] = self.seconds.get(step.output, 0.0) + seconds

    def rows(self, samples: int) -> list[tuple[str, float, float, float | None]]:
        """(step label, milliseconds, share of the total, GFLOP/s or None) per step."""
        total = sum(self.seconds.values()) or 1.0
        rows = []
        for step in self.plan.steps:
            seconds = self.seconds.get(step.output, 0.0)
            flops = 2 * step.node.macs * samples
            rate = flops / seconds / 1e9 if flops and seconds > 0 else None
            rows.append((step_label(step), 1000 * seconds, seconds / total, rate))
        return rows

    def text(self, samples: int) -> str:
        """The table printed after the run; the header says the samples and total time."""
        rows = self.rows(samples)
        total_ms = sum(row[1] for row in rows)
        width = max([len("layer"), *(len(row[0]) for row in rows)])
        lines = [
            f"profile: {samples:,} samples, {total_ms:.1f} ms in {len(rows)} steps",
            f"  {'layer':<{width}}  {'ms':>9}  {'share':>6}  {'GFLOP/s':>8}",
        ]
        for label, ms, share, rate in rows:
            gflops = "-" if rate is None else f"{rate:.1f}"
            lines.append(f"  {label:<{width}}  {ms:9.2f}  {share:6.1%}  {gflops:>8}")
        return "\n".join(lines)


def step_label(step: Step) -> str:
    """`conv2d (Conv2D)`, or `max_pooling2d (MaxPooling2D) + leaky_re_lu` for a fused step."""
    label = f"{step.node.name} ({step.node.layer.type_name})"
    return f"{label} + {step.then}" if step.then else label
