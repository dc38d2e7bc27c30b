#!/usr/bin/python3
"""Predicted vs measured: `bigbatch simulate` against the 2-rank overlap measurements of
bench/RESULTS.md ("Overlap on an emulated network", replay rows at 10 and 1 Gbit/s).

For each measured row the model gets: the recorded profile of that batch (per-layer
gradient-ready times, its backward total), the reducer's 25 MiB buckets, 2 ranks on 2 "servers"
(one link), a ring allreduce, and the link's beta calibrated from that row's solo allreduce of the
whole 102.2 MB arena (--solo-ms); alpha is assumed (--alpha-us, default 100 us: a TCP message
through Open MPI; with 5 buckets x 2 steps it moves predictions by about 1 ms). Forward is 0
and the step is backward + exposed, as overlap_bench measures it. A second prediction takes beta
from the row's measured bucketed allreduce time instead (the link as the buckets saw it), which
tests the schedule model apart from the cost model.

usage: bench/overlap/predict.py [--bigbatch build/bigbatch] [--alpha-us 100]
Prints a Markdown table."""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# bench/RESULTS.md, "Overlap on an emulated network": rate, profile batch, overlap,
# solo allreduce ms, backward ms, allreduce ms (sum over buckets), exposed ms, step ms.
MEASURED = [
    ("10 Gbit/s", 2, "on", 135, 302, 126, 12, 314),
    ("10 Gbit/s", 2, "off", 133, 302, 133, 133, 435),
    ("10 Gbit/s", 8, "on", 146, 968, 174, 15, 986),
    ("10 Gbit/s", 8, "off", 260, 968, 256, 262, 1230),
    ("1 Gbit/s", 2, "on", 851, 302, 1074, 808, 1110),
    ("1 Gbit/s", 2, "off", 869, 302, 1088, 1094, 1396),
    ("1 Gbit/s", 8, "on", 862, 968, 1070, 171, 1139),
    ("1 Gbit/s", 8, "off", 869, 968, 931, 931, 1899),
    ("1 Gbit/s", 16, "on", 844, 1792, 907, 70, 1863),
    ("1 Gbit/s", 16, "off", 864, 1792, 928, 928, 2720),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bigbatch", default=os.path.join(HERE, "..", "..", "build", "bigbatch"))
    parser.add_argument("--alpha-us", type=float, default=100.0)
    args = parser.parse_args()
    print("| network | profile | overlap | solo ms | allreduce ms measured / predicted "
          "| exposed ms measured / predicted | step ms measured / predicted | step error "
          "| exposed / step ms predicted, beta from the bucketed time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rate, batch, overlap, solo, backward, allreduce, exposed, step in MEASURED:
        row = predict(args, batch, overlap, solo, backward)
        fit = predict(args, batch, overlap, allreduce, backward)
        error = (row["iteration_ms"] - step) / step
        print(f"| {rate} | replay b{batch} | {overlap} | {solo} | {allreduce} / {row['comm_ms']:.0f} "
              f"| {exposed} / {row['exposed_ms']:.0f} | {step} / {row['iteration_ms']:.0f} | {100 * error:+.0f}% "
              f"| {fit['exposed_ms']:.0f} / {fit['iteration_ms']:.0f} |")


def predict(args, batch, overlap, allreduce_ms, backward):
    command = [args.bigbatch, "simulate", "--profile", os.path.join(HERE, f"resnet50_b{batch}.profile"),
               "--gpus", "2", "--gpus-per-server", "1", "--algorithms", "ring", "--overlap", overlap,
               "--inter-alpha-us", str(args.alpha_us), "--solo-ms", str(allreduce_ms), "--json"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"predict.py: {' '.join(command)} failed: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    if abs(result["backward_ms"] - backward) > 1:
        sys.exit(f"predict.py: the b{batch} profile's backward is {result['backward_ms']:.0f} ms, "
                 f"the measurement's {backward} ms")
    return result["rows"][0]


if __name__ == "__main__":
    main()
