#!/usr/bin/python3
"""Tables and figures of the sweep (experiments/sweep/run.sh), next to the paper's figures.

usage: report.py --runs DIR --cells cells.txt [--seeds "0 1"] [--figures DIR] [--last 3]

Per run, the final error is the median test top-1 error of its last epochs (--last, default 3;
the paper takes the median of its final 5 of 90 epochs); per cell, the mean +- standard
deviation (n - 1) of that over the seeds. Missing or unfinished runs are reported, not
guessed. B* is the largest global batch whose mean error is within 0.3 points of the
small-batch baseline (kn = 64). Prints Markdown on stdout, writes it to DIR/report.md too, and draws the
curves with `bigbatch plot` (BIGBATCH, default build/bigbatch) into --figures (default DIR).
Standard library only."""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

# RECIPE.md, "What the paper measured" (ResNet-50, ImageNet, top-1 validation error %).
PAPER_BY_BATCH = {256: "23.60±0.12", 1024: "23.53±0.08", 2048: "23.49±0.11", 4096: "23.56±0.12",
                  8192: "23.74±0.09", 16384: "24.79±0.27", 32768: "27.55±0.28", 65536: "33.96±0.80"}
BASELINE = "kn64"  # the small-batch baseline
# A step of kn examples is kn/60000 of a Fashion-MNIST epoch; the same share of an ImageNet
# epoch (1,281,167 images) takes a batch this many times larger.
IMAGENET_PER_FMNIST = 1281167 / 60000
TOLERANCE = 0.3  # points of error: the paper's "no loss of accuracy" band


def read_cells(path):
    cells = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            group, name, flags = words[0], words[1], words[2:]
            batch = int(flags[flags.index("--global-batch") + 1])
            cells.append({"group": group, "name": name, "flags": flags, "batch": batch})
    return cells


def read_run(run_dir, last):
    """(final test err %, final train err %, epochs, lr_policy) or None when unfinished."""
    metrics = os.path.join(run_dir, "metrics.jsonl")
    config = os.path.join(run_dir, "config.toml")
    if not (os.path.isfile(metrics) and os.path.isfile(config)):
        return None
    with open(config, encoding="utf-8") as f:
        epochs = next((int(l.split("=")[1]) for l in f if l.startswith("epochs =")), None)
    by_epoch, lr_policy = {}, ""
    with open(metrics, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            if record.get("kind") == "epoch":
                by_epoch[record["epoch"]] = record
            elif record.get("kind") == "run":
                lr_policy = record.get("lr_policy", "")
    if epochs is None or epochs not in by_epoch:
        return None
    tail = [by_epoch[e] for e in sorted(by_epoch)[-last:]]

    def median(key):
        values = [r[key] for r in tail if r.get(key) is not None]
        return 100 * statistics.median(values) if values else math.nan

    return {"test": median("test_top1_err"), "train": median("train_top1_err"), "epochs": epochs,
            "lr_policy": lr_policy}


def summarise(cells, runs_dir, seeds, last):
    for cell in cells:
        results = [read_run(os.path.join(runs_dir, f"s{s}", cell["name"]), last) for s in seeds]
        done = [r for r in results if r is not None]
        cell["done"], cell["missing"] = len(done), len(seeds) - len(done)
        tests = [r["test"] for r in done]
        cell["mean"] = statistics.mean(tests) if tests else math.nan
        cell["std"] = statistics.stdev(tests) if len(tests) > 1 else math.nan
        cell["train"] = statistics.mean(r["train"] for r in done) if done else math.nan
        cell["lr_policy"] = done[0]["lr_policy"] if done else ""
        cell["epochs"] = done[0]["epochs"] if done else None
    return {c["name"]: c for c in cells}


def fmt(cell):
    if cell is None or not cell["done"]:
        return "not run"
    text = f"{cell['mean']:.2f}" + (f" ± {cell['std']:.2f}" if not math.isnan(cell["std"]) else "")
    if cell["missing"]:
        text += f" ({cell['done']} of {cell['done'] + cell['missing']} seeds)"
    return text


def train_error(cell):
    return f"{cell['train']:.2f}" if cell["done"] else "—"


def delta(cell, base):
    if cell is None or base is None or not cell["done"] or not base["done"]:
        return ""
    return f"{cell['mean'] - base['mean']:+.2f}"


def batch_name(kn):
    return f"{kn // 1024}k" if kn >= 1024 and kn % 1024 == 0 else str(kn)


def b_star(cells, base):
    ok = [c["batch"] for c in cells if c["done"] and base and base["done"]
          and c["mean"] <= base["mean"] + TOLERANCE]
    return max(ok) if ok else None


def report(by_name, cells, seeds, last):
    base = by_name.get(BASELINE)
    out = []
    w = out.append
    first = next((c for c in cells if c["done"]), None)
    w(f"Final error = median test top-1 error of the last {last} epochs of each run; mean ± std over seeds "
      f"{', '.join(seeds)}; Δ = against the small-batch baseline kn = 64 (η = 0.025). "
      f"Epochs per run: {first['epochs'] if first else '?'}. Paper: ResNet-50 on ImageNet, 90 epochs "
      "(RECIPE.md), for the ordering, not the values.\n")

    w("### (a) Error vs global batch: linear scaling, gradual warmup (paper Table 3a, Fig. 3)\n")
    w("| kn | k = kn/32 | η | iterations/epoch | ImageNet kn with as many iterations/epoch | train err % | "
      "test err % | Δ | paper at this kn (ImageNet) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    group_a = [c for c in cells if c["group"] == "a"]
    for c in group_a:
        w(f"| {batch_name(c['batch'])} | {c['batch'] // 32} | {0.1 * c['batch'] / 256:g} | {60000 // c['batch']} | "
          f"{c['batch'] * IMAGENET_PER_FMNIST / 1000:.1f}k | "
          f"{train_error(c)} | {fmt(c)} | {delta(c, base)} | {PAPER_BY_BATCH.get(c['batch'], '—')} |")
    w("")

    def variants(title, rows, paper):
        w(title + "\n")
        w("| variant | test err % | Δ vs kn 64 | paper at 8k |")
        w("| --- | --- | --- | --- |")
        for label, name in rows:
            w(f"| {label} | {fmt(by_name.get(name))} | {delta(by_name.get(name), base)} | {paper.get(name, '—')} |")
        w("")

    variants("### (b) Warmup at kn = 4k (paper Table 1, Fig. 2)",
             [("gradual", "kn4k"), ("constant", "kn4k-warmup-constant"), ("none", "kn4k-warmup-none")],
             {"kn4k": "23.74±0.09", "kn4k-warmup-constant": "25.88±0.56", "kn4k-warmup-none": "24.84±0.37"})
    variants("### (c) Learning-rate scaling at kn = 4k (paper Table 2a)",
             [("linear (η = 1.6)", "kn4k"), ("sqrt (η = 0.4)", "kn4k-scaling-sqrt"),
              ("none (η = 0.1)", "kn4k-scaling-none")],
             {"kn4k": "23.74", "kn4k-scaling-sqrt": "26.22", "kn4k-scaling-none": "41.67"})
    variants("### (d) Zero-γ initialisation at kn = 4k (paper Table 2b)",
             [("zero-γ on", "kn4k"), ("zero-γ off", "kn4k-zero-gamma-off")],
             {"kn4k": "23.74", "kn4k-zero-gamma-off": "24.11"})

    w("### (e) LARS vs SGD at the largest batches (RECIPE §9)\n")
    w("| kn | SGD test err % | Δ | LARS test err % | Δ |")
    w("| --- | --- | --- | --- | --- |")
    lars = [c for c in cells if c["group"] == "e"]
    for c in lars:
        sgd = next((s for s in group_a if s["batch"] == c["batch"]), None)
        w(f"| {batch_name(c['batch'])} | {fmt(sgd)} | {delta(sgd, base)} | {fmt(c)} | {delta(c, base)} |")
    w("")

    sgd_star = b_star(group_a, base)
    lars_star = b_star([c for c in group_a if c["batch"] < min((l["batch"] for l in lars), default=0)]
                       + [c for c in lars], base)
    w(f"**B\\*** (largest kn within {TOLERANCE} points of the baseline): "
      f"SGD {batch_name(sgd_star) if sgd_star else 'n/a'}; "
      f"with LARS at the large batches {batch_name(lars_star) if lars_star else 'n/a'}.")
    missing = [f"s{s}/{c['name']}" for c in cells for s in seeds
               if read_run(os.path.join(RUNS, f"s{s}", c["name"]), last) is None]
    if missing:
        w(f"\nNot finished ({len(missing)}): {', '.join(missing)}.")
    return "\n".join(out) + "\n"


def plot(bigbatch, runs_dir, seed, names, png):
    dirs = [os.path.join(runs_dir, f"s{seed}", n) for n in names]
    dirs = [d for d in dirs if read_run(d, 1) is not None]
    if len(dirs) < 2:
        return None
    subprocess.run([bigbatch, "plot", *dirs, "-o", png], check=True, stdout=subprocess.DEVNULL)
    return png


def main():
    global RUNS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True)
    parser.add_argument("--cells", required=True)
    parser.add_argument("--seeds", default="0 1")
    parser.add_argument("--figures", default=None)
    parser.add_argument("--last", type=int, default=3)
    args = parser.parse_args()
    RUNS = args.runs
    seeds = args.seeds.split()
    cells = read_cells(args.cells)
    by_name = summarise(cells, args.runs, seeds, args.last)
    text = report(by_name, cells, seeds, args.last)
    figures = args.figures or args.runs
    os.makedirs(figures, exist_ok=True)
    bigbatch = os.environ.get("BIGBATCH", "build/bigbatch")
    drawn = []
    for png, names in [("sweep_batch.png", [c["name"] for c in cells if c["group"] == "a"]),
                       ("sweep_warmup.png", [BASELINE, "kn4k", "kn4k-warmup-constant", "kn4k-warmup-none"]),
                       ("sweep_lars.png", [n for c in cells if c["group"] == "e"
                                           for n in (c["name"].replace("-lars", ""), c["name"])])]:
        path = plot(bigbatch, args.runs, seeds[0], names, os.path.join(figures, png))
        if path:
            drawn.append(path)
    if drawn:
        text += "\nFigures (seed " + seeds[0] + "; training and test error vs epochs): " + ", ".join(drawn) + "\n"
    with open(os.path.join(args.runs, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)


RUNS = ""
if __name__ == "__main__":
    main()
