#!/usr/bin/python3
"""End-to-end checks of JPEG input through the `bigbatch` binary, on a tree generated here
with PIL: `pack`, `train --dataset imagefolder|imageshards` (tiny resnet18 at 32x32), `eval`,
the new flags in `train --help`, and one error line + exit 1 for each kind of bad input.
Usage: image_input_test.py {run|errors} PATH/TO/bigbatch SCRATCH_DIR
Exits 77 (skipped) without PIL."""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testing"))
try:
    from PIL import Image
    from jpeg_tree import make_tree  # noqa: E402  the tests' ImageFolder trees
except ImportError:
    print("image_input_test: skipped: PIL missing")
    sys.exit(77)

BINARY = None
failures = []


def check(condition, what, detail=""):
    if not condition:
        failures.append(f"{what}\n{detail}".rstrip())


def run(*args):
    proc = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=240)
    return proc.returncode, proc.stdout, proc.stderr


TRAIN = ["--model", "resnet18", "--image-size", "32", "--global-batch", "4", "--per-worker-batch", "2",
         "--epochs", "1", "--warmup-epochs", "0", "--decay", "cosine", "--threads", "1", "--decode-threads", "2", "--eval-batch", "3",
         "--progress", "off"]


def expect_error(args, needle):
    rc, out, err = run(*args)
    lines = [line for line in err.splitlines() if line.strip()]
    detail = f"args: {args}\nrc: {rc}\nstdout: {out!r}\nstderr: {err!r}"
    check(rc == 1, f"{args}: expected exit 1, got {rc}", detail)
    check(len(lines) == 1 and lines[0].startswith("bigbatch: error: "), f"{args}: expected one error line", detail)
    check(needle in err, f"{args}: expected '{needle}' in the error", detail)


def claim_size(path, width, height):
    """Patches the JPEG's frame header (SOF0/1/2) to claim width x height over its own data."""
    data = bytearray(open(path, "rb").read())
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    data[i + 5:i + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    open(path, "wb").write(bytes(data))


def test_run(scratch):
    tree, shards = os.path.join(scratch, "tree"), os.path.join(scratch, "shards")
    make_tree(tree)
    rc, out, err = run("train", "--help")
    for flag in ("--image-size", "--decode-threads", "--prefetch-batches", "--skip-bad-images", "--max-image-pixels"):
        check(flag in out, f"train --help lists {flag}", out)
    check("imagefolder" in out, "train --help names the imagefolder dataset", out)
    rc, out, err = run("pack", "--help")
    check("--max-image-pixels" in out and "89478485" in out, "pack --help lists --max-image-pixels", out)
    rc, out, err = run("pack", tree, "-o", shards, "--shard-mib", "1")
    check(rc == 0 and "packed 18 images" in out, "pack packs 12 + 6 images", out + err)
    check(os.path.exists(os.path.join(shards, "train.index")), "pack writes train.index")
    for dataset, data_dir in (("imagefolder", tree), ("imageshards", shards), ("imagefolder", shards)):
        run_dir = os.path.join(scratch, f"run-{dataset}-{os.path.basename(data_dir)}")
        rc, out, err = run("train", *TRAIN, "--dataset", dataset, "--data-dir", data_dir, "--out", run_dir)
        check(rc == 0 and "test error" in out, f"train on {dataset} {data_dir} succeeds", out + err)
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            iters = [json.loads(line) for line in f if '"iter"' in line]
        check(all("input_wait_s" in it for it in iters), "iter lines carry input_wait_s", str(iters))
    rc, out, err = run("eval", "--checkpoint", os.path.join(scratch, "run-imagefolder-tree", "checkpoints",
                                                           "last.safetensors"),
                       "--dataset", "imageshards", "--data-dir", shards, "--image-size", "32", "--batch", "4")
    check(rc == 0 and json.loads(out or "{}").get("examples") == 6, "eval reads the val shards", out + err)


def test_errors(scratch):
    tree = os.path.join(scratch, "tree")
    make_tree(tree)
    # One --out for every case: each replaces the run the last one left.
    base = ["train", *TRAIN, "--out", os.path.join(scratch, "run"), "--overwrite", "on"]
    folder = base + ["--dataset", "imagefolder"]
    # A missing split folder.
    shutil.rmtree(os.path.join(tree, "val"))
    expect_error(folder + ["--data-dir", tree], "val: split folder missing")
    expect_error(["pack", tree, "-o", os.path.join(scratch, "s1")], "val: split folder missing")
    make_tree(tree)
    # An empty class folder.
    os.makedirs(os.path.join(tree, "train", "zz"))
    expect_error(folder + ["--data-dir", tree], "zz: empty class folder")
    os.rmdir(os.path.join(tree, "train", "zz"))
    # A corrupt JPEG: named, one line; with --skip-bad-images the run completes and says so once.
    bad = os.path.join(tree, "train", "b", "1.jpg")
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8 not really")
    expect_error(folder + ["--data-dir", tree], f"[data:imagefolder] {bad}: ")
    rc, out, err = run(*folder, "--data-dir", tree, "--skip-bad-images", "on")
    skipped = [line for line in err.splitlines() if "skipped" in line]
    check(rc == 0 and len(skipped) == 1 and bad in skipped[0], "--skip-bad-images logs the file once", out + err)
    # A decompression bomb: a small progressive JPEG whose header claims 60000x60000 (decoded, 10 GiB).
    # Refused from its header, naming the file and the size; skipped like any bad image.
    Image.new("RGB", (48, 40), (10, 200, 30)).save(bad, quality=90, progressive=True)
    claim_size(bad, 60000, 60000)
    expect_error(folder + ["--data-dir", tree], f"{bad}: JPEG header claims 60000x60000 = 3600000000 pixels")
    rc, out, err = run(*folder, "--data-dir", tree, "--skip-bad-images", "on")
    skipped = [line for line in err.splitlines() if "skipped" in line]
    check(rc == 0 and len(skipped) == 1 and "60000x60000" in skipped[0], "--skip-bad-images skips the bomb", out + err)
    expect_error(["pack", tree, "-o", os.path.join(scratch, "s2")], f"{bad}: JPEG header claims 60000x60000")
    rc, out, err = run("pack", tree, "-o", os.path.join(scratch, "s2"), "--skip-bad-images")
    check(rc == 0 and "(1 skipped)" in out, "pack --skip-bad-images skips the bomb", out + err)
    expect_error(folder + ["--data-dir", tree, "--max-image-pixels", "0"], "max-image-pixels: expected > 0")
    expect_error(["pack", tree, "-o", os.path.join(scratch, "s2"), "--max-image-pixels", "0"], "--max-image-pixels")
    os.remove(bad)
    # A header that declares more rows than its data holds (libjpeg pads the rest with grey): the
    # evaluation's centre crop reaches the missing rows.
    short = os.path.join(tree, "val", "a", "0.jpg")
    original = open(short, "rb").read()
    Image.new("RGB", (48, 40), (200, 20, 90)).save(short, quality=90)
    claim_size(short, 48, 400)
    expect_error(folder + ["--data-dir", tree],
                 f"{short}: corrupt JPEG: its data ends before the 48x400 pixels its header declares")
    # pack --skip-bad-images decodes every image as training will: the short one and a truncated
    # one are skipped and counted, not packed.
    cut = os.path.join(tree, "train", "c", "0.jpg")
    cut_original = open(cut, "rb").read()
    open(cut, "wb").write(cut_original[: len(cut_original) * 3 // 4])
    rc, out, err = run("pack", tree, "-o", os.path.join(scratch, "s3"), "--skip-bad-images")
    check(rc == 0 and "(2 skipped)" in out and cut in err and short in err, "pack skips truncated images", out + err)
    expect_error(["pack", tree, "-o", os.path.join(scratch, "s3")], f"{cut}: corrupt JPEG")
    open(cut, "wb").write(cut_original)
    open(short, "wb").write(original)
    # A shard with a flipped byte, and a truncated index.
    shards = os.path.join(scratch, "shards")
    rc, out, err = run("pack", tree, "-o", shards)
    check(rc == 0, "pack succeeds", out + err)
    shard = os.path.join(shards, "train-00000.shard")
    data = bytearray(open(shard, "rb").read())
    data[len(data) // 2] ^= 0x10
    open(shard, "wb").write(bytes(data))
    # (the message says "checksum mismatch", or "no record" if the byte hit a record header)
    expect_error(base + ["--dataset", "imageshards", "--data-dir", shards], f"{shard} record ")
    index = os.path.join(shards, "val.index")
    data = open(index, "rb").read()
    open(index, "wb").write(data[: len(data) // 2])
    expect_error(base + ["--dataset", "imageshards", "--data-dir", shards], f"{index}: index checksum mismatch")


def main():
    global BINARY
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    case, BINARY, scratch = sys.argv[1:]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    {"run": test_run, "errors": test_errors}[case](scratch)
    for f in failures:
        print("FAIL:", f, "\n")
    print(f"image_input_test {case}: {'FAILED' if failures else 'passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
