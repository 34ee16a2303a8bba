"""Row 66 experiment: LIMe (the paper's static K/V routers) vs vanilla on a synthetic LM corpus.

Corpus (fixed seed, known generator): vocab 256, each sequence draws a topic ``z`` in 0..3; tokens
follow a topic-dependent sparse Zipfian bigram (each token has 4 successors with weights 1/r), and
at every position (t >= 8) a copy event starts with probability 0.1 that repeats an earlier span
of 4-12 tokens (induction). Loss = mean next-token cross-entropy on held-out sequences.

Models: ``LIMeTransformer(mix="kv")`` with and without routers; vanilla gets ``d_mlp + extra`` so
that its parameter count is >= LIMe's. AdamW (0.9, 0.95), weight decay 0.1 on matrices, routers at
10x lr without decay (the paper's recipe), 100 warm-up steps then cosine to 10 %, grad clip 1.

    OMP_NUM_THREADS=1 python scripts/lime_lm_experiment.py --model lime --lr 2e-3 --seed 0

Writes scripts/results/lime/<tag>.json atomically (skips a run whose file exists). Each result has
validation/test loss at checkpoints, per-layer value matrix entropy (alpha 0.5) on test data, and
the routers' weight on the current layer.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from neurocircuits.layers.cells import LIMeTransformer
from neurocircuits.layers.cells._lime import value_matrix_entropy

VOCAB, TOPICS, SUCC = 256, 4, 4


def make_source(seed: int = 1234) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    succ = torch.stack([torch.stack([torch.randperm(VOCAB, generator=g)[:SUCC] for _ in range(VOCAB)])
                        for _ in range(TOPICS)])                                   # [topics, vocab, succ]
    w = 1.0 / torch.arange(1, SUCC + 1, dtype=torch.float64)
    return succ, w / w.sum()


def sample(n: int, length: int, gen: torch.Generator, source: tuple[torch.Tensor, torch.Tensor],
           p_copy: float = 0.1) -> torch.Tensor:
    succ, w = source
    topic = torch.randint(0, TOPICS, (n,), generator=gen)
    x = torch.empty(n, length, dtype=torch.long)
    x[:, 0] = torch.randint(0, VOCAB, (n,), generator=gen)
    src = torch.full((n,), -1, dtype=torch.long)                                  # copy pointer, -1 = none
    left = torch.zeros(n, dtype=torch.long)
    for t in range(1, length):
        r = torch.multinomial(w.expand(n, -1), 1, generator=gen).squeeze(1)
        nxt = succ[topic, x[:, t - 1], r]
        start = (left == 0) & (t >= 8) & (torch.rand(n, generator=gen) < p_copy)
        if start.any():
            s = (torch.rand(n, generator=gen) * (t - 4)).long()
            src = torch.where(start, s, src)
            left = torch.where(start, torch.randint(4, 13, (n,), generator=gen), left)
        copying = left > 0
        nxt = torch.where(copying, x[torch.arange(n), src.clamp_min(0)], nxt)
        src = torch.where(copying, src + 1, src)
        left = (left - 1).clamp_min(0)
        x[:, t] = nxt
    return x


def build(model: str, layers: int, d: int, d_mlp: int, extra_mlp: int, seq: int) -> LIMeTransformer:
    lime = model == "lime"
    return LIMeTransformer(VOCAB, d, 4, layers, d_mlp if lime else d_mlp + extra_mlp, seq, lime=lime, mix="kv")


def optimiser(m: LIMeTransformer, lr: float, router_lr_mult: float) -> torch.optim.Optimizer:
    routers = {id(p) for p in m.router_parameters()}
    decay, no_decay = [], []
    for name, p in m.named_parameters():
        if not p.requires_grad or id(p) in routers:
            continue
        (decay if p.dim() >= 2 and not name.startswith(("embed", "pos")) else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    if routers:
        groups.append({"params": m.router_parameters(), "weight_decay": 0.0, "lr": lr * router_lr_mult})
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


@torch.no_grad()
def evaluate(m: LIMeTransformer, data: torch.Tensor) -> float:
    m.eval()
    tot = sum(F.cross_entropy(m(b[:, :-1]).reshape(-1, VOCAB), b[:, 1:].reshape(-1), reduction="sum").item()
              for b in data.split(128))
    m.train()
    return tot / (data.shape[0] * (data.shape[1] - 1))


@torch.no_grad()
def value_entropies(m: LIMeTransformer, data: torch.Tensor) -> list[float]:
    store: list[torch.Tensor] = []
    handles = [b.hook_v.register_forward_hook(lambda mod, i, o: store.append(o)) for b in m.blocks]
    m.eval()
    m(data[:, :-1])
    m.train()
    for h in handles:
        h.remove()
    out = []
    for v in store:                                            # [b, heads, t, e] -> [b, t, heads*e]
        out.append(value_matrix_entropy(v.transpose(1, 2).reshape(v.shape[0], v.shape[2], -1)).mean().item())
    return out


def current_layer_weight(m: LIMeTransformer) -> list[float]:
    """Per routed layer: share of the router's squared weight on the current layer's heads."""
    out = []
    for b in m.blocks:
        if b.router is not None:
            r = b.router.detach() ** 2
            out.append((r[:, -b.n_heads:].sum() / r.sum()).item())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["lime", "vanilla"], required=True)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--d-mlp", type=int, default=128)
    ap.add_argument("--extra-mlp", type=int, default=2)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--router-lr-mult", type=float, default=10.0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--out", default="scripts/results/lime")
    a = ap.parse_args()
    tag = f"L{a.layers}_d{a.d}_s{a.steps}_{a.model}_lr{a.lr:g}_rm{a.router_lr_mult:g}_seed{a.seed}"
    path = Path(a.out) / f"{tag}.json"
    if path.exists():
        print("exists", path)
        return
    torch.set_num_threads(1)
    source = make_source()
    val = sample(512, a.seq + 1, torch.Generator().manual_seed(777), source)
    test = sample(512, a.seq + 1, torch.Generator().manual_seed(888), source)
    torch.manual_seed(a.seed)
    m = build(a.model, a.layers, a.d, a.d_mlp, a.extra_mlp, a.seq)
    opt = optimiser(m, a.lr, a.router_lr_mult)
    router_share_init = current_layer_weight(m)
    warm = 100
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) if s < warm else
                                              0.1 + 0.45 * (1 + math.cos(math.pi * (s - warm) / max(1, a.steps - warm))))
    gen = torch.Generator().manual_seed(10_000 + a.seed)
    curve = []
    t0 = time.time()
    for step in tqdm(range(1, a.steps + 1), desc=tag, mininterval=30):
        x = sample(a.batch, a.seq + 1, gen, source)
        loss = F.cross_entropy(m(x[:, :-1]).reshape(-1, VOCAB), x[:, 1:].reshape(-1))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{tag}: loss became {loss.item()} at step {step}; lower --lr.")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % a.eval_every == 0 or step == a.steps:
            curve.append({"step": step, "val": evaluate(m, val), "test": evaluate(m, test)})
    res = {"tag": tag, "args": vars(a), "params": sum(p.numel() for p in m.parameters() if p.requires_grad),
           "curve": curve, "val": curve[-1]["val"], "test": curve[-1]["test"],
           "value_entropy": value_entropies(m, test[:256]), "current_layer_weight": current_layer_weight(m),
           "current_layer_weight_init": router_share_init,
           "seconds": time.time() - t0}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, path)
    print(json.dumps({k: res[k] for k in ("tag", "params", "val", "test", "seconds")}))


if __name__ == "__main__":
    main()
