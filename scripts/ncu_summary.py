"""Sums an ncu CSV (--metrics gpu__time_duration.sum --csv) by kernel name: where a step's time goes.

    python3 scripts/ncu_summary.py ncu.csv [steps]
"""
import csv
import sys
from collections import defaultdict

rows = list(csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"')))
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1
total = defaultdict(float)
count = defaultdict(int)
for r in rows:
    if r["Metric Name"] != "gpu__time_duration.sum":
        continue
    scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}[r["Metric Unit"]]
    name = r["Kernel Name"].split("(")[0][:70]
    total[name] += float(r["Metric Value"].replace(",", "")) * scale
    count[name] += 1
grand = sum(total.values())
print(f"{'kernel':72} {'calls':>7} {'us/step':>10} {'share':>6}")
for name, t in sorted(total.items(), key=lambda kv: -kv[1])[:20]:
    print(f"{name:72} {count[name]:7d} {t / steps:10.1f} {100 * t / grand:5.1f}%")
print(f"{'total':72} {sum(count.values()):7d} {grand / steps:10.1f}")
