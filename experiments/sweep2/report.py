#!/usr/bin/python3
"""Tables of the second sweep (experiments/sweep/run.sh --sweep experiments/sweep2).

usage: report.py --runs DIR --cells cells.txt [--seeds "0 1 2"] [--last 3] [--figures DIR]
                 [--into FILE]

Per run, the final error is the median test top-1 error of its last epochs (--last, default 3;
the paper takes the median of its final 5 of 90 epochs); per cell, the mean +- standard
deviation (n - 1) over the seeds that finished. Missing or unfinished runs are reported, never
guessed. B* is the largest global batch whose mean error is within 0.3 points of the small-batch
baseline (kn = 64). Group f's cells are other cells (their name without "-precise-bn") trained
with --precise-bn-batches: their table sets each beside its running-statistics twin, with the
worst epoch's test error (the spikes precise BN is to explain), and the default job's pair of
runs (--default-job, experiments/precise_bn_default: off/ and on/) beside them. Prints Markdown on stdout and
writes it to DIR/report.md. With --figures DIR (default with $BIGBATCH set, as run.sh runs it:
figures/ beside cells.txt) and $BIGBATCH, the binary, draws the paper's
figures there through `bigbatch plot --panels`: test error vs kn with the paper's ImageNet points
on a steps-per-epoch axis (its Fig. 3), training error vs epoch for the three warmups at kn 512
(Fig. 2), and SGD vs LARS vs kn. With --into FILE (experiments/RESULTS.md), the tables also
replace what lies between FILE's two "sweep2 report" marker lines, the rest of FILE untouched.
Standard library only.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

# RECIPE.md, "What the paper measured" (ResNet-50, ImageNet, top-1 validation error %).
PAPER_BY_BATCH = {256: (23.60, 0.12), 1024: (23.53, 0.08), 2048: (23.49, 0.11), 4096: (23.56, 0.12),
                  8192: (23.74, 0.09), 16384: (24.79, 0.27), 32768: (27.55, 0.28), 65536: (33.96, 0.80)}
PAPER_8K_VARIANTS = {"kn512": "23.74±0.09", "kn512-warmup-none": "24.84±0.37",
                     "kn512-warmup-constant": "25.88±0.56", "kn512-scaling-sqrt": "26.22",
                     "kn512-scaling-none": "41.67", "kn512-zero-gamma-off": "24.11"}
BASELINE = "kn64"
FMNIST_TRAIN = 60000
IMAGENET_TRAIN = 1281167
TOLERANCE = 0.3  # points of error: the paper's "no loss of accuracy" band


def read_cells(path):
    cells = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            flags = [w for w in words[2:] if not w.startswith("seeds=")]
            seeds = next((int(w[6:]) for w in words[2:3] if w.startswith("seeds=")), None)
            batch = int(flags[flags.index("--global-batch") + 1])
            cells.append({"group": words[0], "name": words[1], "flags": flags, "batch": batch,
                          "seed_count": seeds})
    return cells


def read_run(run_dir, last):
    """The run's final errors (%) and its last training loss, or None when it has not finished."""
    metrics, config = os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "config.toml")
    if not (os.path.isfile(metrics) and os.path.isfile(config)):
        return None
    with open(config, encoding="utf-8") as f:
        epochs = next((int(l.split("=")[1]) for l in f if l.startswith("epochs =")), None)
    by_epoch, lr_policy = {}, ""
    with open(metrics, encoding="utf-8") as f:
        for line in f:
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

    worst = max((r["test_top1_err"] for r in by_epoch.values() if r.get("test_top1_err") is not None),
                default=math.nan)
    curve = [100 * by_epoch[e]["train_top1_err"] if by_epoch[e].get("train_top1_err") is not None else None
             for e in sorted(by_epoch)]
    return {"test": median("test_top1_err"), "train": median("train_top1_err"), "epochs": epochs,
            "train_loss": by_epoch[epochs].get("train_loss"), "lr_policy": lr_policy, "worst": 100 * worst,
            "train_curve": curve}


def summarise(cells, runs_dir, seeds, last):
    for cell in cells:
        wanted = seeds[:cell["seed_count"]] if cell["seed_count"] else seeds
        results = [read_run(os.path.join(runs_dir, f"s{s}", cell["name"]), last) for s in wanted]
        done = [r for r in results if r is not None]
        cell["runs"] = done
        cell["missing"] = [f"s{s}/{cell['name']}" for s, r in zip(wanted, results) if r is None]
        tests = [r["test"] for r in done]
        cell["mean"] = statistics.mean(tests) if tests else math.nan
        cell["std"] = statistics.stdev(tests) if len(tests) > 1 else math.nan
        cell["train"] = statistics.mean(r["train"] for r in done) if done else math.nan
        cell["worst"] = statistics.mean(r["worst"] for r in done) if done else math.nan
    return {c["name"]: c for c in cells}


def fmt(cell):
    if cell is None or not cell["runs"]:
        return "not run"
    text = f"{cell['mean']:.2f}" + (f" ± {cell['std']:.2f}" if not math.isnan(cell["std"]) else "")
    return text + f" (n={len(cell['runs'])})"


def train_fmt(cell):
    """The mean training error of a cell's finished runs, or a dash."""
    return f"{cell['train']:.2f}" if cell is not None and cell["runs"] else "—"


def delta(cell, base):
    if cell is None or base is None or not cell["runs"] or not base["runs"]:
        return ""
    return f"{round(cell['mean'] - base['mean'], 2) + 0.0:+.2f}"  # + 0.0: never "-0.00"


def batch_name(kn):
    return f"{kn // 1024}k" if kn >= 1024 and kn % 1024 == 0 else str(kn)


def steps_per_epoch(kn):
    return FMNIST_TRAIN // kn


def imagenet_equivalent(kn):
    """The ImageNet batch whose step is as large a share of an epoch as kn's is here."""
    return kn * IMAGENET_TRAIN / FMNIST_TRAIN


def b_star(cells, base):
    ok = [c["batch"] for c in cells if c["runs"] and base and base["runs"] and c["mean"] <= base["mean"] + TOLERANCE]
    return max(ok) if ok else None


def report(by_name, cells, seeds, last, default_job=None):
    base = by_name.get(BASELINE)
    out = []
    w = out.append
    w(f"Final error = median test top-1 error of the last {last} epochs of each run; mean ± std over the seeds "
      f"that finished (n); Δ = against the small-batch baseline kn = 64. Paper: ResNet-50 on ImageNet, 90 "
      "epochs (RECIPE.md), for the ordering and the shape, not the values.\n")

    w("### (a) Error vs global batch: linear scaling, gradual warmup (paper Table 3a, Fig. 3)\n")
    w("| kn | η | steps/epoch | ImageNet kn with as many steps/epoch | train err % | test err % | Δ | "
      "paper Δ at that ImageNet kn |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    group_a = [c for c in cells if c["group"] == "a"]
    for c in group_a:
        equivalent = imagenet_equivalent(c["batch"])
        nearest = min(PAPER_BY_BATCH, key=lambda kn: abs(math.log2(kn / equivalent)))
        paper = (f"{PAPER_BY_BATCH[nearest][0] - PAPER_BY_BATCH[256][0]:+.2f} (at {batch_name(nearest)})"
                 if abs(math.log2(nearest / equivalent)) <= 0.5 else "—")
        w(f"| {batch_name(c['batch'])} | {0.1 * c['batch'] / 256:g} | {steps_per_epoch(c['batch'])} | "
          f"{batch_name(round(equivalent))} | {train_fmt(c)} | {fmt(c)} | {delta(c, base)} | {paper} |")
    w("")

    def sgd_at(kn):
        """Group a's cell at global batch kn (linear scaling, gradual warmup), or None."""
        return next((a for a in group_a if a["batch"] == kn), None)

    def variants(title, rows):
        w(title + "\n")
        w("| variant | train err % | test err % | Δ vs kn 64 | Δ vs kn 512 | paper at 8k |")
        w("| --- | --- | --- | --- | --- | --- |")
        ref = by_name.get("kn512")
        for label, name in rows:
            c = by_name.get(name)
            w(f"| {label} | {train_fmt(c)} | {fmt(c)} | {delta(c, base)} | {delta(c, ref) if name != 'kn512' else ''} | "
              f"{PAPER_8K_VARIANTS.get(name, '—')} |")
        w("")

    variants("### (b) Warmup at kn = 512 (paper Table 1, Fig. 2)",
             [("gradual", "kn512"), ("none", "kn512-warmup-none"), ("constant", "kn512-warmup-constant")])
    variants("### (c) Learning-rate scaling at kn = 512 (paper Table 2a)",
             [("linear (η = 0.2)", "kn512"), ("sqrt (η = 0.141)", "kn512-scaling-sqrt"),
              ("none (η = 0.1)", "kn512-scaling-none")])
    variants("### (d) Zero-γ initialisation at kn = 512 (paper Table 2b)",
             [("zero-γ on", "kn512"), ("zero-γ off", "kn512-zero-gamma-off")])

    probes = [c for c in cells if c["group"] == "p"]
    if probes:
        w("### LARS probe: η_lars at kn = 4k, 10 epochs, seed 0 (chosen by final training loss)\n")
        w("| η_lars | final train loss | train err % | test err % |")
        w("| --- | --- | --- | --- |")
        for c in probes:
            r = c["runs"][0] if c["runs"] else None
            eta = c["flags"][c["flags"].index("--lars-eta") + 1]
            w(f"| {eta} | {r['train_loss']:.4f} | {r['train']:.2f} | {r['test']:.2f} |" if r else
              f"| {eta} | not run | | |")
        w("")

    lars = [c for c in cells if c["group"] == "e"]
    if lars:
        w("### (e) LARS vs SGD (RECIPE §9)\n")
        w("| kn | SGD train err % | SGD test err % | Δ | LARS train err % | LARS test err % | Δ |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for c in lars:
            sgd = sgd_at(c["batch"])
            w(f"| {batch_name(c['batch'])} | {train_fmt(sgd)} | {fmt(sgd)} | {delta(sgd, base)} | {train_fmt(c)} | "
              f"{fmt(c)} | "
              f"{delta(c, base)} |")
        w("")

    peers = [c for c in cells if c["group"] == "t"]
    if peers:
        w("### (t) The recipe, not the engine: PyTorch's runs beside bigbatch's\n")
        w("| kn | bigbatch train err % | bigbatch test err % | PyTorch train err % | PyTorch test err % |")
        w("| --- | --- | --- | --- | --- |")
        for c in peers:
            ours = sgd_at(c["batch"])
            w(f"| {batch_name(c['batch'])} | {train_fmt(ours)} | {fmt(ours)} | {train_fmt(c)} | {fmt(c)} |")
        w("")

    precise = [c for c in cells if c["group"] == "f"]
    if precise:
        w("### (f) Precise BN statistics (--precise-bn-batches N, N·kn ≈ 8192 examples as in pycls)\n")
        w("| cell | N | train err % | test err %, running statistics | test err %, precise BN | Δ | "
          "worst epoch's test err %: running → precise |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for c in precise:
            twin = by_name.get(c["name"].removesuffix("-precise-bn"))
            n = c["flags"][c["flags"].index("--precise-bn-batches") + 1]
            worst = (f"{twin['worst']:.2f} → {c['worst']:.2f}" if c["runs"] and twin and twin["runs"] else "—")
            w(f"| {twin['name'] if twin else c['name']} | {n} | {train_fmt(c)} | {fmt(twin)} | {fmt(c)} | {delta(c, twin)} | "
              f"{worst} |")
        if default_job:
            off, on = (read_run(os.path.join(default_job, d), last) for d in ("off", "on"))
            if off and on:
                w(f"| the default job (resnet20, kn 1k, 10 epochs; {os.path.basename(default_job)}/, n=1) | 8 | "
                  f"{on['train']:.2f} | {off['test']:.2f} | {on['test']:.2f} | {on['test'] - off['test']:+.2f} | "
                  f"{off['worst']:.2f} → {on['worst']:.2f} |")
        w("")

    sgd_star = b_star(group_a, base)
    lars_star = b_star([c for c in group_a if c["batch"] < min((l["batch"] for l in lars), default=0)] + lars, base)
    w(f"**B\\*** (largest kn whose mean is within {TOLERANCE} points of the kn 64 baseline): "
      f"SGD {batch_name(sgd_star) if sgd_star else 'n/a'}"
      + (f"; LARS at 1k and above {batch_name(lars_star) if lars_star else 'n/a'}." if lars else "."))
    missing = [m for c in cells for m in c["missing"]]
    if missing:
        w(f"\nNot finished ({len(missing)}): {', '.join(missing)}.")
    return "\n".join(out) + "\n"


def figures(by_name, cells, out_dir, bigbatch):
    """The paper's three figures as panel specs, drawn by `bigbatch plot --panels`."""
    os.makedirs(out_dir, exist_ok=True)
    base = by_name.get(BASELINE)

    def by_kn(group):
        done = [c for c in cells if c["group"] == group and c["runs"]]
        xs = [math.log2(c["batch"]) for c in done]
        mean = [c["mean"] for c in done]
        lo = [c["mean"] - (0 if math.isnan(c["std"]) else c["std"]) for c in done]
        hi = [c["mean"] + (0 if math.isnan(c["std"]) else c["std"]) for c in done]
        return xs, mean, lo, hi, done

    xs, mean, lo, hi, done = by_kn("a")
    ours_steps = [math.log2(FMNIST_TRAIN / c["batch"]) for c in done]
    ours_delta = [c["mean"] - base["mean"] if base and base["runs"] else None for c in done]
    paper_steps = [math.log2(IMAGENET_TRAIN / kn) for kn in PAPER_BY_BATCH]
    paper_delta = [e - PAPER_BY_BATCH[256][0] for e, _ in PAPER_BY_BATCH.values()]
    specs = {"sweep2_batch.png": {"columns": 2, "panels": [
        {"title": "Test error vs kn (linear, gradual warmup)", "x_label": "log2 kn",
         "y_label": "test error %", "series": [
             {"label": "bigbatch, mean", "x": xs, "y": mean},
             {"label": "mean - std", "x": xs, "y": lo}, {"label": "mean + std", "x": xs, "y": hi}]},
        {"title": "Delta vs the small-batch baseline", "x_label": "log2 steps per epoch",
         "y_label": "delta test error (points)", "series": [
             {"label": "bigbatch, Fashion-MNIST", "x": ours_steps, "y": ours_delta},
             {"label": "paper, ImageNet", "x": paper_steps, "y": paper_delta}]}]}}
    warm = []
    for label, name in (("gradual", "kn512"), ("none", "kn512-warmup-none"), ("constant", "kn512-warmup-constant")):
        c = by_name.get(name)
        if not c or not c["runs"]:
            continue
        curves = [r["train_curve"] for r in c["runs"]]
        n = min(len(cv) for cv in curves)
        ys = [statistics.mean(cv[i] for cv in curves if cv[i] is not None) for i in range(n)]
        warm.append({"label": f"{label} warmup (n={len(curves)})", "x": list(range(1, n + 1)), "y": ys})
    specs["sweep2_warmup.png"] = {"columns": 1, "panels": [
        {"title": "Training error vs epoch, kn 512: three warmups", "x_label": "epoch",
         "y_label": "training error %", "log_y": True, "series": warm}]}
    lxs, lmean, _, _, _ = by_kn("e")
    specs["sweep2_lars.png"] = {"columns": 1, "panels": [
        {"title": "SGD vs LARS", "x_label": "log2 kn", "y_label": "test error %", "series": [
            {"label": "SGD (linear scaling, gradual warmup)", "x": xs, "y": mean},
            {"label": "LARS (poly decay)", "x": lxs, "y": lmean}]}]}
    drawn = []
    for png, spec in specs.items():
        spec_path = os.path.join(out_dir, png.replace(".png", ".json"))
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        if bigbatch:
            subprocess.run([bigbatch, "plot", "--panels", spec_path, "-o", os.path.join(out_dir, png)], check=True,
                           stdout=subprocess.DEVNULL)
            drawn.append(os.path.join(out_dir, png))
    return drawn


BEGIN_MARK = "<!-- sweep2 report: begin (generated by experiments/sweep2/report.py; do not edit by hand) -->"
END_MARK = "<!-- sweep2 report: end -->"


def splice(path, text):
    """Replaces the lines between PATH's marker lines with TEXT; refuses a file without both."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        begin = lines.index(BEGIN_MARK)
        end = lines.index(END_MARK, begin + 1)
    except ValueError:
        sys.exit(f"report.py: error: {path} lacks the lines '{BEGIN_MARK}' and, after it, '{END_MARK}'")
    lines[begin + 1:end] = text.rstrip("\n").split("\n")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True)
    parser.add_argument("--cells", required=True)
    parser.add_argument("--seeds", default="0 1 2")
    parser.add_argument("--last", type=int, default=3)
    # Default with $BIGBATCH set (as run.sh runs it): the sweep's own figures/ beside cells.txt.
    parser.add_argument("--figures", default=None)
    # Precise BN on the default job, its two runs (off/, on/), set beside table (f)'s cells.
    parser.add_argument("--default-job", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                              "precise_bn_default"))
    parser.add_argument("--into", default=None)
    args = parser.parse_args()
    seeds = args.seeds.split()
    cells = read_cells(args.cells)
    by_name = summarise(cells, args.runs, seeds, args.last)
    text = report(by_name, cells, seeds, args.last, args.default_job)
    if args.into:
        splice(args.into, text)
    if args.figures is None and os.environ.get("BIGBATCH"):
        args.figures = os.path.join(os.path.dirname(os.path.abspath(args.cells)), "figures")
    if args.figures:
        drawn = figures(by_name, cells, args.figures, os.environ.get("BIGBATCH"))
        text += "".join(f"\n![{os.path.basename(p)}]({os.path.relpath(p, args.runs)})\n" for p in drawn)
    with open(os.path.join(args.runs, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
