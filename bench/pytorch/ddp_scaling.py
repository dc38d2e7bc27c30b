#!/usr/bin/python3
"""PyTorch's side of bench/scaling.sh: the same global batch as R processes x T threads, with
DistributedDataParallel over gloo when R > 1, or one plain process when R = 1.

Each step: forward (training mode, ghost BN over groups of --per-worker examples, as
bigbatch's virtual workers), softmax cross-entropy summed / global batch, backward (DDP
allreduces its buckets over gloo during it), SGD momentum 0.9, weight decay 1e-4 on conv and
fc weights. Synthetic N(0, 1) images and uniform labels, drawn once per process. The throughput
is global_batch x (iters - skip) / (time of those iterations), measured on rank 0 (every
step ends with DDP's allreduce, so the ranks move in lockstep).

  /usr/bin/python3 bench/pytorch/ddp_scaling.py --ranks 2 --threads 1 --model resnet20 \\
      --global-batch 256 --per-worker 32 --iters 40 --skip 10 --json

Run with Debian's interpreter (/usr/bin/python3, which has python3-torch with gloo)."""

import argparse
import json
import os
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_fmnist import use_ghost_bn  # noqa: E402
from train_step import CIFAR_DEPTHS, IMAGENET_MODELS, build_model  # noqa: E402

MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
LEARNING_RATE = 0.01


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, args, port, queue):
    torch.set_num_threads(args.threads)
    distributed = args.ranks > 1
    if distributed:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.ranks)
    imagenet = args.model in IMAGENET_MODELS
    channels, size, classes = (3, 224, 1000) if imagenet else (1, 28, 10)
    torch.manual_seed(args.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(args.model, channels, classes).train()
    use_ghost_bn(model, args.per_worker)
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=args.bucket_mib)
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=LEARNING_RATE, momentum=MOMENTUM)
    local = args.global_batch // args.ranks
    generator = torch.Generator().manual_seed(args.seed + rank)
    src = torch.randn(local, channels, size, size, generator=generator)
    labels = torch.randint(0, classes, (local,), generator=generator)
    # DDP averages gradients over ranks; the loss is divided by the local batch so that the
    # average equals bigbatch's sum / kn.
    divisor = float(local) if distributed else float(args.global_batch)

    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(src), labels, reduction="sum") / divisor
        loss.backward()
        optimizer.step()
        loss.item()
        times.append(time.perf_counter() - t0)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0:
        queue.put(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, required=True, help="processes (DDP over gloo when > 1)")
    parser.add_argument("--threads", type=int, required=True, help="torch threads per process")
    parser.add_argument("--model", default="resnet20", choices=list(CIFAR_DEPTHS) + list(IMAGENET_MODELS))
    parser.add_argument("--global-batch", type=int, default=256)
    parser.add_argument("--per-worker", type=int, default=32, help="ghost BN group (bigbatch's n)")
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--skip", type=int, default=10, help="first iterations left out of the throughput")
    parser.add_argument("--bucket-mib", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.ranks < 1 or args.threads < 1 or args.global_batch % (args.ranks * args.per_worker) != 0:
        parser.error("--ranks and --threads >= 1; --global-batch must be a multiple of ranks x per-worker")
    if not 0 <= args.skip < args.iters:
        parser.error("--skip must be in [0, --iters)")

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = free_port()
    if args.ranks == 1:
        worker(0, args, port, queue)
    else:
        mp.start_processes(worker, args=(args, port, queue), nprocs=args.ranks, join=True, start_method="spawn")
    times = queue.get()
    kept = times[args.skip:]
    result = {
        "engine": "pytorch",
        "backend": "gloo-ddp" if args.ranks > 1 else "single",
        "model": args.model,
        "ranks": args.ranks,
        "threads": args.threads,
        "global_batch": args.global_batch,
        "per_worker": args.per_worker,
        "iters": args.iters,
        "skip": args.skip,
        "img_per_s": args.global_batch * len(kept) / sum(kept),
        "median_step_ms": 1e3 * statistics.median(kept),
        "torch_version": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"pytorch {result['backend']}: {args.ranks} x {args.threads} threads, {args.model}, "
              f"batch {args.global_batch}: {result['img_per_s']:.1f} img/s "
              f"(median step {result['median_step_ms']:.1f} ms)")


if __name__ == "__main__":
    main()
