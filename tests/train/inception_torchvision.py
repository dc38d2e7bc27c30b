#!/usr/bin/python3
"""torchvision's Inception-v3 as the oracle for bigbatch's (issue 14). Run with /usr/bin/python3
(Debian's python3-torch and python3-torchvision) by inception_torchvision_test.cpp:

  inception_torchvision.py write DIR   DIR/weights.safetensors: a torchvision inception_v3
      (aux_logits, dropout 0, its own initialisation, BN statistics of a real batch, γ and β off
      1 and 0); DIR/case.safetensors: a 2x3x299x299 batch, its labels, the eval-mode logits, the
      train-mode loss (logits + 0.4 aux) and every tensor after one SGD step (lr 0.1, momentum
      0.9, weight decay 1e-4 on conv and fc weights), as "after.<name>".
  inception_torchvision.py read DIR    DIR/bigbatch.safetensors (bigbatch's weights after that
      step) loads into torchvision's inception_v3 with strict=True, and they are torchvision's
      own after the step to 1e-4 (relative L2 over the model).

Exits 77 (ctest SKIP_RETURN_CODE) without torch or torchvision."""

import math
import sys
from pathlib import Path

SKIP = 77
try:
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:
    print(f"SKIP: /usr/bin/python3 cannot import torch/torchvision ({e})", flush=True)
    sys.exit(SKIP)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from torch_interop import load, save  # noqa: E402  pure-Python safetensors

# Batch 4: the auxiliary head's last BN normalises N x 1 x 1 values, and over 2 its input
# gradient is exactly 0 (two values normalise to ±1 whatever they are), leaving only rounding.
BATCH, CLASSES, LR, MOMENTUM, WD, AUX = 4, 1000, 0.1, 0.9, 1e-4, 0.4
FACTOR = 5.0  # bigbatch's error may be this many times PyTorch float32's (two f32 engines differ)
torch.set_num_threads(2)


def model():
    return torchvision.models.inception_v3(init_weights=True, aux_logits=True, dropout=0.0)


def sgd_step(net, x, labels):
    """One step as bigbatch's (optim/sgd.h, u-form): weight decay on conv and fc weights only."""
    net.train()
    out = net(x)
    loss = (F.cross_entropy(out.logits, labels, reduction="sum") +
            AUX * F.cross_entropy(out.aux_logits, labels, reduction="sum")) / BATCH
    decay = [p for p in net.parameters() if p.dim() > 1]
    no_decay = [p for p in net.parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=LR, momentum=MOMENTUM)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def write(directory):
    torch.manual_seed(0)
    net = model()
    x = torch.randn(BATCH, 3, 299, 299)
    labels = torch.tensor([3, 998, 500, 0])
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.8, 1.2)
            m.bias.uniform_(-0.1, 0.1)
            # Running statistics of a batch (a cumulative average over one forward), so that
            # the eval-mode activations stay at the scale training gives them.
            m.reset_running_stats()
            m.momentum = None
        net.train()
        net(torch.randn(4, 3, 299, 299))
        for m in bns:
            m.momentum = 0.1
    save({k: v.contiguous() for k, v in net.state_dict().items()}, f"{directory}/weights.safetensors", {"format": "pt"})

    net.eval()
    with torch.no_grad():
        eval_logits = net(x)
    loss = sgd_step(net, x, labels)
    case = {"input": x, "labels": labels.to(torch.float32), "eval_logits": eval_logits,
            "loss": torch.tensor([loss.item()])}
    for name, t in net.state_dict().items():
        case["after." + name] = t.detach().contiguous()
    save(case, f"{directory}/case.safetensors")
    print(f"torchvision: eval logits |max| {eval_logits.abs().max().item():.4g}, train loss {loss.item():.6f}")


def update_error(after, start, truth):
    """||Δw - Δw64|| / ||Δw64|| with Δw = after - start."""
    true_update = truth - start
    return ((after - start) - true_update).norm().item() / max(true_update.norm().item(), 1e-30)


def read(directory):
    state, _ = load(f"{directory}/bigbatch.safetensors")
    weights = {k: v for k, v in state.items() if not k.startswith("optimizer.")}
    ours = model()
    ours.load_state_dict(weights, strict=True)  # names, shapes and the I64 counters
    case, _ = load(f"{directory}/case.safetensors")
    start, _ = load(f"{directory}/weights.safetensors")
    # The truth: the same step in float64 from the same weights and batch.
    truth = model().double()
    truth.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in start.items()}, strict=True)
    sgd_step(truth, case["input"].double(), case["labels"].long())
    truth_state = truth.state_dict()
    rows, worst = [], None
    total = {"ours": [0.0, 0.0], "f32": [0.0, 0.0]}
    for name, t in ours.state_dict().items():
        if not t.is_floating_point() or name not in dict(ours.named_parameters()):
            continue
        w0, w64 = start[name].double(), truth_state[name]
        e_ours = update_error(t.double(), w0, w64)
        e_f32 = update_error(case["after." + name].double(), w0, w64)
        rows.append((name, e_ours, e_f32))
        for key, after in (("ours", t.double()), ("f32", case["after." + name].double())):
            total[key][0] += ((after - w0) - (w64 - w0)).pow(2).sum().item()
            total[key][1] += (w64 - w0).pow(2).sum().item()
        if worst is None or e_ours / max(e_f32, 1e-12) > worst[1] / max(worst[2], 1e-12):
            worst = (name, e_ours, e_f32)
    model_ours = math.sqrt(total["ours"][0] / total["ours"][1])
    model_f32 = math.sqrt(total["f32"][0] / total["f32"][1])
    median_ours = sorted(r[1] for r in rows)[len(rows) // 2]
    median_f32 = sorted(r[2] for r in rows)[len(rows) // 2]
    print(f"update error vs float64 over the model: bigbatch {model_ours:.3g}, PyTorch float32 {model_f32:.3g}; "
          f"median over {len(rows)} tensors: bigbatch {median_ours:.3g}, PyTorch float32 {median_f32:.3g}; "
          f"largest ratio {worst[0]}: {worst[1]:.3g} vs {worst[2]:.3g}", flush=True)
    # Reported, not asserted: single tensors beyond FACTOR (batch norm's backward over few values,
    # issue 16 item 12's open question).
    for n, a, b in [(n, a, b) for n, a, b in rows if a > FACTOR * b and a > 1e-3][:10]:
        print(f"  over {FACTOR}x: {n}: bigbatch {a:.3g}, PyTorch float32 {b:.3g}")
    if model_ours > FACTOR * model_f32 or median_ours > FACTOR * median_f32:
        print(f"FAIL: bigbatch's SGD step is more than {FACTOR}x further from float64 than PyTorch float32's",
              flush=True)
        sys.exit(1)


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
