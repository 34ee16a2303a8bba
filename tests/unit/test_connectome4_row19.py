"""Row 19 in the regime the BPU argument favours: few training samples and noisy inputs.

The C. elegans connectome (Cook 2019 hermaphrodite) as a fixed, signed recurrent network with only
the input projection onto its 83 sensory neurons and the read-out from its 123 motor neurons trained
(6,635 parameters; BPU's residual update, sqrt-transformed counts, spectral radius 0.5, 4 steps, the
validation-best setting of docs/readme/connectomes.md), against a one-hidden-layer MLP with the same
trainable-parameter budget (64 -> 88 -> 10, 6,610). Both get the same protocol: 10 training digits per
class, the same learning-rate sweep (1e-3, 3e-3, 1e-2, 3e-2) scored on a 10-per-class validation set,
400 AdamW steps of batch 32 with a cosine schedule, weight decay 1e-2; 6 seeds (split and init);
tested on 50 clean digits per class and on the same digits with Gaussian input noise (sigma 0.5, 1 in
units of the standardised pixels).

Measured (2026-11-29, 6 seeds, mean +- s.e.m.): clean 0.897 +- 0.011 vs MLP 0.905 +- 0.008; sigma 0.5:
0.849 +- 0.014 vs 0.860 +- 0.008; sigma 1: 0.704 +- 0.010 vs 0.726 +- 0.006. The fixed connectome does
NOT generalise better with few samples or under noise; it loses a little, more so under noise. This
test pins that: a tie within 3 points on clean data, and no robustness advantage. Control: the same
network on a degree-preserving shuffle of the connectome (:func:`degree_preserving_shuffle`: in/out
degrees, synapse counts and presynaptic signs kept, 90 % of the edges moved) reaches 0.904 +- 0.006 clean
and 0.727 +- 0.010 at sigma 1: the real wiring is no advantage here either.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("cect", reason="the [connectomes] extra provides the C. elegans connectome")

CONNECTOME = {"weight_transform": "sqrt", "spectral_radius": 0.5, "steps": 4, "activation": "relu",
              "update": "residual"}
LRS = (1e-3, 3e-3, 1e-2, 3e-2)
STEPS, PER_CLASS, SEEDS, NOISE = 400, 10, range(6), (0.5, 1.0)


def _split(seed: int, per_class: int):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    tr, va, te = [], [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        te += list(idx[:50])
        va += list(idx[50:50 + max(per_class, 10)])
        tr += list(idx[80:80 + per_class])
    tr, va, te = map(np.array, (tr, va, te))
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1.0
    f = lambda i: (torch.tensor((x[i] - mu) / sd, dtype=torch.float32), torch.tensor(y[i]))  # noqa: E731
    return f(tr), f(va), f(te)


def _fit(net, fwd, x, y, lr: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)
    for _ in range(STEPS):
        idx = torch.randperm(len(x), generator=g)[:min(32, len(x))]
        loss = torch.nn.functional.cross_entropy(fwd(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def _acc(fwd, x, y) -> float:
    with torch.no_grad():
        return (fwd(x).argmax(1) == y).float().mean().item()


def _make(kind: str, worm, seed: int):
    from neurocircuits.data.connectomes import degree_preserving_shuffle
    from neurocircuits.models import create_model

    torch.manual_seed(seed)
    graph = degree_preserving_shuffle(worm, seed=seed) if kind == "shuffled" else worm
    net = create_model("connectome_rnn", graph=graph, trainable="io", seed=seed, **CONNECTOME)
    n = sum(p.numel() for p in net.parameters() if p.requires_grad)
    if kind in ("connectome", "shuffled"):
        return net, (lambda x: net(x)[0][:, -1]), n
    hidden = (n - 10) // 75                      # 64 h + h + 10 h + 10 parameters
    mlp = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    return mlp, mlp, sum(p.numel() for p in mlp.parameters())


@pytest.mark.slow
def test_row19_low_data_and_input_noise_connectome_vs_param_matched_mlp() -> None:
    from neurocircuits.data import connectome

    worm = connectome("celegans/cook2019_herm")
    res: dict[str, list[list[float]]] = {"connectome": [], "mlp": [], "shuffled": []}
    for seed in SEEDS:
        (xtr, ytr), (xva, yva), (xte, yte) = _split(seed, PER_CLASS)
        noise = torch.randn(xte.shape, generator=torch.Generator().manual_seed(1000 + seed))
        for kind in res:
            best = None
            for lr in LRS:                      # same sweep, selected on validation, for both
                net, fwd, n_params = _make(kind, worm, seed)
                _fit(net, fwd, xtr, ytr, lr, seed)
                score = _acc(fwd, xva, yva)
                if best is None or score > best[0]:
                    best = (score, fwd, n_params)
            _, fwd, n_params = best
            res[kind].append([_acc(fwd, xte, yte)] + [_acc(fwd, xte + s * noise, yte) for s in NOISE])
            res[kind][-1].append(n_params)
    conn, mlp, shuf = np.array(res["connectome"]), np.array(res["mlp"]), np.array(res["shuffled"])
    assert abs(conn[0, -1] - mlp[0, -1]) < 50      # the same trainable budget (6635 vs 6610)
    mean_c, mean_m = conn[:, :-1].mean(0), mlp[:, :-1].mean(0)
    sem = lambda a: a.std(0, ddof=1) / math.sqrt(len(a))  # noqa: E731
    print(f"row 19, {PER_CLASS}/class, {len(SEEDS)} seeds, [clean, sigma {NOISE}]: connectome {mean_c.round(3)} "
          f"+- {sem(conn[:, :-1]).round(3)}; MLP {mean_m.round(3)} +- {sem(mlp[:, :-1]).round(3)}; degree-preserving "
          f"shuffle {shuf[:, :-1].mean(0).round(3)} +- {sem(shuf[:, :-1]).round(3)}")
    # measured: connectome [0.897 0.849 0.704] vs MLP [0.905 0.860 0.726]
    assert mean_c[0] > 0.85                         # learns digits from 100 samples through fixed wiring
    assert abs(mean_c[0] - mean_m[0]) < 0.03        # clean: a tie within 3 points, no win
    drop_c, drop_m = mean_c[0] - mean_c[-1], mean_m[0] - mean_m[-1]
    assert drop_c > 0.1 and drop_m > 0.1           # sigma = 1 noise costs both a lot
    # no robustness advantage for the fixed recurrent structure (measured drops 0.193 vs 0.179)
    assert drop_c > drop_m - 0.02
    # the control: the real wiring is no better than the same degrees, counts and signs rewired at random
    # (measured: shuffled [0.904 0.853 0.727], more robust to noise than the real wiring on 5 of 6 seeds)
    assert abs(mean_c[0] - shuf[:, 0].mean()) < 0.03
    assert mean_c[-1] < shuf[:, -2].mean() + 0.01
