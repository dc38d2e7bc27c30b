#!/usr/bin/python3
"""bigbatch against PyTorch on Fashion-MNIST (run with /usr/bin/python3, Debian's torch).

  torch_parity.py eval BIGBATCH SCRATCH   a short bigbatch run's checkpoint, evaluated by
                                          `bigbatch eval` and by PyTorch (strict load)
  torch_parity.py step BIGBATCH SCRATCH   PyTorch-initialised weights into `bigbatch train
                                          --init`: loss before and after one SGD step
  torch_parity.py step_lars BIGBATCH SCRATCH   the same over three LARS steps (--optimizer lars),
                                          PyTorch's side being bench/pytorch/train_fmnist.py's apply_lars

Exits 77 (ctest SKIP_RETURN_CODE) when torch is missing or the data set is absent."""

import json
import math
import shutil
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fmnist_torch import (DATA_DIR, ROOT, SKIP, THREADS, F, fail, f32, load_split, run,  # noqa: E402,F401
                          safetensors_py, torch, train_step)


def relative(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def pytorch_model():
    return train_step.build_model("resnet8", 1, 10)


def fresh(scratch):
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    return scratch


def case_eval(binary, scratch):
    out = fresh(scratch) / "run"
    run([binary, "train", "--model", "resnet8", "--dataset", "fashion-mnist", "--global-batch", 256,
         "--per-worker-batch", 32, "--epochs", 1, "--max-iters", 30, "--warmup-epochs", 0, "--decay-epochs", "",
         "--threads", THREADS, "--progress", "off", "--out", out])
    checkpoint = out / "checkpoints" / "last.safetensors"
    ours = json.loads(run([binary, "eval", "--checkpoint", checkpoint, "--model", "resnet8", "--dataset",
                           "fashion-mnist", "--threads", THREADS]).strip().splitlines()[-1])
    print(f"bigbatch eval: {ours}", flush=True)

    state, _ = safetensors_py.load(checkpoint)
    weights = {k: v for k, v in state.items() if not k.startswith("optimizer.")}
    model = pytorch_model()
    model.load_state_dict(weights, strict=True)
    model.eval()
    images, labels = load_split(train=False)
    wrong, loss_sum = 0, 0.0
    with torch.no_grad():
        for begin in range(0, len(labels), 500):
            x, y = images[begin:begin + 500], labels[begin:begin + 500]
            logits = model(x)
            # bigbatch's top-1 rule (ops/accuracy.cpp): correct unless some logit beats the label's.
            target = logits.gather(1, y[:, None])
            wrong += int(((logits > target).sum(1) >= 1).sum())
            loss_sum += float(F.cross_entropy(logits.double(), y, reduction="sum"))
    n = len(labels)
    theirs = {"top1_err": wrong / n, "loss": loss_sum / n, "examples": n}
    print(f"pytorch eval:  {theirs}", flush=True)

    if ours["examples"] != n:
        fail(f"bigbatch evaluated {ours['examples']} examples, PyTorch {n}")
    diff = abs(round(ours["top1_err"] * n) - wrong)
    if diff > 2:
        fail(f"top-1 errors differ by {diff} examples (bigbatch {ours['top1_err']}, PyTorch {wrong / n})")
    if relative(ours["loss"], theirs["loss"]) > 1e-4:
        fail(f"loss: bigbatch {ours['loss']!r}, PyTorch {theirs['loss']!r} "
             f"(relative {relative(ours['loss'], theirs['loss']):.3g} > 1e-4)")
    print(f"PASS: top-1 error {ours['top1_err']} vs {wrong / n} ({diff} examples apart), "
          f"loss relative difference {relative(ours['loss'], theirs['loss']):.2g}", flush=True)


def case_step(binary, scratch, lars_eta=None):
    scratch = fresh(scratch)
    batch, lr, momentum, wd = 64, 0.1, 0.9, 1e-4
    steps, lars_flags = 2, []
    if lars_eta is not None:
        # Three steps, so that momentum carries LARS-scaled updates; at a larger lr (0.4 plain SGD
        # too) the two engines' rounding grows past 1e-4 by the third loss, LARS or not.
        from train_fmnist import apply_lars  # the PyTorch peer's LARS
        steps, lr, lars_flags = 3, 0.25, ["--optimizer", "lars", "--lars-eta", lars_eta]
    torch.manual_seed(0)
    model = pytorch_model()
    init = scratch / "torch_init.safetensors"
    safetensors_py.save(model.state_dict(), init, {"format": "pt"})

    out = scratch / "run"
    run([binary, "train", "--model", "resnet8", "--dataset", "fashion-mnist", "--init", init,
         "--max-iters", steps, "--log-every", 1, "--shuffle", "off", "--augment", "none", *lars_flags,
         "--global-batch", batch, "--per-worker-batch", batch, "--warmup", "none", "--lr", lr,
         "--ref-batch", batch, "--momentum", momentum, "--wd", wd, "--decay-epochs", "", "--epochs", 1,
         "--warmup-epochs", 0, "--threads", THREADS, "--progress", "off", "--out", out])
    iters = {}
    with open(out / "metrics.jsonl") as f:
        for line in f:
            record = json.loads(line)
            if record.get("kind") == "iter":
                iters[record["iter"]] = record
    if sorted(iters) != list(range(1, steps + 1)):
        fail(f"expected iter lines 1..{steps} in {out / 'metrics.jsonl'}, got {sorted(iters)}")
    for i in range(1, steps + 1):
        if not math.isclose(iters[i]["lr"], lr, rel_tol=1e-12):
            fail(f"iter {i} ran at lr {iters[i]['lr']}, expected {lr}")
    ours = [iters[i]["loss"] for i in range(1, steps + 1)]

    # PyTorch's side: the first two batches of 64 in file order, BN over the whole batch.
    images, labels = load_split(train=True)
    model.train()
    decay = [p for p in model.parameters() if p.dim() > 1]  # conv and fc weights
    no_decay = [p for p in model.parameters() if p.dim() <= 1]  # BN γ/β, fc bias
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": 0.0 if lars_flags else wd},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=lr, momentum=momentum, dampening=0.0)
    lars_params = [(p, wd if p.dim() > 1 else 0.0, p.dim() > 1) for p in model.parameters()]
    theirs = []
    for step in range(steps):
        x, y = images[step * batch:(step + 1) * batch], labels[step * batch:(step + 1) * batch]
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y, reduction="sum") / batch
        loss.backward()
        if lars_flags:
            apply_lars(lars_params, lars_eta)
        optimizer.step()
        theirs.append(float(loss))

    print(f"bigbatch losses: {ours}\npytorch  losses: {theirs}", flush=True)
    bad = [i for i in range(steps) if relative(ours[i], theirs[i]) > 1e-4]
    if bad:
        fail("; ".join(f"iter {i + 1} loss: bigbatch {ours[i]!r}, PyTorch {theirs[i]!r} "
                       f"(relative {relative(ours[i], theirs[i]):.3g} > 1e-4)" for i in bad))
    print("PASS: relative differences " + ", ".join(f"{relative(a, b):.2g}" for a, b in zip(ours, theirs)), flush=True)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("eval", "step", "step_lars"):
        sys.exit(f"usage: {sys.argv[0]} eval|step|step_lars BIGBATCH SCRATCH_DIR")
    if not (DATA_DIR / "t10k-images-idx3-ubyte.gz").exists():
        print(f"SKIP: Fashion-MNIST not found in {DATA_DIR}", flush=True)
        sys.exit(SKIP)
    torch.set_num_threads(THREADS)
    cases = {"eval": case_eval, "step": case_step, "step_lars": lambda b, s: case_step(b, s, lars_eta=0.02)}
    cases[sys.argv[1]](sys.argv[2], Path(sys.argv[3]))


if __name__ == "__main__":
    main()
