"""Sums an ncu CSV (--metrics gpu__time_duration.sum --csv) by kernel name: where a step's time goes.

    python3 scripts/ncu_summary.py ncu.csv [steps]     every kernel in the file, divided by steps
    python3 scripts/ncu_summary.py ncu.csv --decode    batch-1 decode steps only: the kernels after
        each lm_head GEMV (the float32-output gemv_kernel) up to the next one, leaving out the load,
        the profiling step and the prefill
    python3 scripts/ncu_summary.py ncu.csv --steps     every step after the engine's profiling step,
        split where the embedding kernel starts one, in two tables: steps with prefill rows (the
        tensor-core prefill kernel ran) and decode-only steps; for models whose head_dim that
        kernel does not serve (32, 256), every step lands in the second table
"""
import csv
import sys
from collections import defaultdict

UNITS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}
rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))
        if r["Metric Name"] == "gpu__time_duration.sum"]


def micros(r):
    return float(r["Metric Value"].replace(",", "")) * UNITS[r["Metric Unit"]]


def name(r):
    return r["Kernel Name"].split("(")[0].replace("void nodellm::<unnamed>::", "")[:70]


def table(groups, steps):
    total = defaultdict(float)
    count = defaultdict(int)
    for group in groups:
        for r in group:
            total[name(r)] += micros(r)
            count[name(r)] += 1
    grand = sum(total.values())
    print(f"{'kernel':72} {'calls':>7} {'us/step':>10} {'share':>6}")
    for n, t in sorted(total.items(), key=lambda kv: -kv[1])[:20]:
        print(f"{n:72} {count[n]:7d} {t / steps:10.1f} {100 * t / grand:5.1f}%")
    print(f"{'total':72} {sum(count.values()):7d} {grand / steps:10.1f}")


if len(sys.argv) > 2 and sys.argv[2] == "--steps":
    starts = [i for i, r in enumerate(rows) if "embedding_kernel" in r["Kernel Name"]]
    steps = [rows[a:b] for a, b in zip(starts, starts[1:] + [len(rows)])][1:]  # [0]: the profiling step
    for label, want_prefill in (("steps with prefill rows", True), ("decode-only steps", False)):
        group = [s for s in steps if any("prefill_attention_kernel" in r["Kernel Name"] for r in s) == want_prefill]
        print(f"{len(group)} {label}, kernels one at a time (ncu serialises them)")
        if group:
            table(group, len(group))
elif len(sys.argv) > 2 and sys.argv[2] == "--decode":
    heads = [i for i, r in enumerate(rows) if "gemv_kernel<__nv_bfloat16, float" in r["Kernel Name"]]
    steps = [rows[a + 1:b + 1] for a, b in zip(heads[:-1], heads[1:])]  # heads[0] ends the prefill
    print(f"{len(steps)} batch-1 decode steps, kernels one at a time (ncu serialises them)")
    table(steps, len(steps))
else:
    table([rows], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
