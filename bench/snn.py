"""Benchmark: surrogate-gradient training of the same SNNs with neurocircuits and peer libraries.

Same work for every library, in one process, OMP_NUM_THREADS=1:
* MLP: 64-128-10 LIF (decay 0.905 ~ tau 10 steps, threshold 1, subtractive reset, atan surrogate
  alpha=2 where the library has it), 25 steps of direct (analogue) input, batch 128, Adam lr 2e-3,
  cross-entropy on output spike counts, scikit-learn digits (1348 train / 449 test).
* Conv: conv3x3(1->16)+BN+LIF, maxpool2, conv3x3(16->32)+BN+LIF, maxpool2, linear(128->10)+LIF, 8 steps.

Each library trains for ``--epochs`` epochs, round-robin (epoch e of every library back to back, so
background load hits all alike); per run we report the median wall time and the median process CPU
time (user + system, less sensitive to other jobs on a shared machine) of one epoch, the test
accuracy after the last epoch, and the ratios (peer time / neurocircuits time). ``--runs`` repeats
everything with fresh models, run ``r`` seeded with ``r`` (initialisation and batch order, the same
for every library); the summary gives the median over runs and the spread (min, max).
neurocircuits runs its default path: on CPU with numba installed, the fused LIF's compiled kernels;
in the conv SNN, channels-last maps and each block's BatchNorm + LIF + 2x2 max pool as one compiled
op (same values and gradients as ``nn.BatchNorm2d`` -> LIF -> ``nn.MaxPool2d(2)`` up to float
rounding); the first epoch includes their one-time compilation if numba's on-disk cache is cold
(the median over epochs excludes it).
Peers are written in each library's documented idiom (snnTorch: a per-step loop over layers;
SpikingJelly: multi-step modules with the torch backend; norse: LIFBoxCell per step, norse's own
SuperSpike surrogate). For every library the first layer's current (static input) is computed once
and reused at every step, so all do the same arithmetic. Run with the peer venv:

    OMP_NUM_THREADS=1 /work/venvs/snn/bin/python bench/snn.py
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(1)

BETA = 0.905  # per-step decay shared by all libraries (tau ~ 10 steps)
T_MLP, T_CONV = 25, 8


def load_digits(layout: str):
    from neurocircuits.data.datasets import digits

    return digits(layout)


# ------------------------------------------------------------------------------------ neurocircuits
def nc_mlp():
    from neurocircuits.models import create_model

    return create_model("spiking_mlp", in_features=64, hidden=[128], out_features=10, time_steps=T_MLP,
                        encoding="direct", tau_mem_ms=-1.0 / math.log(BETA), surrogate="atan", reset="soft")


def nc_conv():
    from neurocircuits.models import create_model

    return create_model("spiking_conv", in_channels=1, image_size=8, channels=[16, 32], time_steps=T_CONV,
                        encoding="direct", tau_mem_ms=-1.0 / math.log(BETA), surrogate="atan")


def nc_forward(net, x):
    out, _ = net(x)
    return out.sum(0)


# --------------------------------------------------------------------------------------- snnTorch
class SnnTorchMLP(nn.Module):
    def __init__(self):
        import snntorch as snn
        from snntorch import surrogate

        super().__init__()
        sg = surrogate.atan(alpha=2.0)
        self.fc1, self.fc2 = nn.Linear(64, 128), nn.Linear(128, 10)
        self.lif1 = snn.Leaky(beta=BETA, spike_grad=sg, reset_mechanism="subtract")
        self.lif2 = snn.Leaky(beta=BETA, spike_grad=sg, reset_mechanism="subtract")

    def forward(self, x):
        m1, m2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        count = 0
        cur1 = self.fc1(x)  # static input: the first layer's current is computed once (as in every library here)
        for _ in range(T_MLP):
            s1, m1 = self.lif1(cur1, m1)
            s2, m2 = self.lif2(self.fc2(s1), m2)
            count = count + s2
        return count


class SnnTorchConv(nn.Module):
    def __init__(self):
        import snntorch as snn
        from snntorch import surrogate

        super().__init__()
        sg = surrogate.atan(alpha=2.0)
        self.c1, self.b1 = nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.c2, self.b2 = nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.fc = nn.Linear(128, 10)
        self.l1, self.l2, self.l3 = (snn.Leaky(beta=BETA, spike_grad=sg, reset_mechanism="subtract") for _ in range(3))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        m1, m2, m3 = self.l1.init_leaky(), self.l2.init_leaky(), self.l3.init_leaky()
        count = 0
        cur1 = self.b1(self.c1(x))
        for _ in range(T_CONV):
            s1, m1 = self.l1(cur1, m1)
            s2, m2 = self.l2(self.b2(self.c2(self.pool(s1))), m2)
            s3, m3 = self.l3(self.fc(self.pool(s2).flatten(1)), m3)
            count = count + s3
        return count


# ----------------------------------------------------------------------------------- SpikingJelly
def _sj_lif():
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=1.0, v_reset=None,
                          surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=True, step_mode="m")


class SJMLP(nn.Module):
    def __init__(self):
        from spikingjelly.activation_based import layer

        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.net = nn.Sequential(_sj_lif(), layer.SeqToANNContainer(nn.Linear(128, 10)), _sj_lif())

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        return self.net(self.fc1(x).unsqueeze(0).repeat(T_MLP, 1, 1)).sum(0)


class SJConv(nn.Module):
    def __init__(self):
        from spikingjelly.activation_based import layer

        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
        self.net = nn.Sequential(
            _sj_lif(),
            layer.SeqToANNContainer(nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)), _sj_lif(),
            layer.SeqToANNContainer(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10)), _sj_lif())

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        return self.net(self.stem(x).unsqueeze(0).repeat(T_CONV, 1, 1, 1, 1)).sum(0)


# ------------------------------------------------------------------------------------------- norse
def _norse_cell():
    from norse.torch.functional.reset import reset_subtract
    from norse.torch.module.lif_box import LIFBoxCell, LIFBoxParameters

    # v <- v + dt tau_inv (-v + i): dt tau_inv = 1 - BETA, input scaled by 1/(1-BETA) for unit gain
    p = LIFBoxParameters(tau_mem_inv=torch.as_tensor((1 - BETA) / 1e-3), v_th=torch.as_tensor(1.0),
                         reset_method=reset_subtract)
    return LIFBoxCell(p)


class NorseMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, 128), nn.Linear(128, 10)
        self.l1, self.l2 = _norse_cell(), _norse_cell()

    def forward(self, x):
        g = 1.0 / (1 - BETA)
        s1 = s2 = None
        count = 0
        cur = self.fc1(x) * g
        for _ in range(T_MLP):
            z1, s1 = self.l1(cur, s1)
            z2, s2 = self.l2(self.fc2(z1) * g, s2)
            count = count + z2
        return count


class NorseConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.c2, self.b2 = nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.fc = nn.Linear(128, 10)
        self.l1, self.l2, self.l3 = _norse_cell(), _norse_cell(), _norse_cell()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        g = 1.0 / (1 - BETA)
        s1 = s2 = s3 = None
        count = 0
        cur1 = self.b1(self.c1(x)) * g
        for _ in range(T_CONV):
            z1, s1 = self.l1(cur1, s1)
            z2, s2 = self.l2(self.b2(self.c2(self.pool(z1))) * g, s2)
            z3, s3 = self.l3(self.fc(self.pool(z2).flatten(1)) * g, s3)
            count = count + z3
        return count


# ------------------------------------------------------------------------------------------ runner
class Trainer:
    """One library's model + optimiser; ``epoch()`` trains one timed epoch."""

    def __init__(self, name: str, make, fwd, data, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.name, self.fwd, self.data = name, fwd, data
        self.net = make()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=2e-3)
        self.gen = torch.Generator().manual_seed(seed)
        self.times: list[float] = []
        self.cpu_times: list[float] = []

    def epoch(self) -> None:
        d, n = self.data, len(self.data.y_train)
        self.net.train()
        perm = torch.randperm(n, generator=self.gen)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, 128):
            idx = perm[i:i + 128]
            loss = nn.functional.cross_entropy(self.fwd(self.net, d.x_train[idx]), d.y_train[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.times.append(time.perf_counter() - t0)
        self.cpu_times.append(time.process_time() - c0)

    def result(self) -> dict:
        self.net.eval()
        with torch.no_grad():
            acc = float((self.fwd(self.net, self.data.x_test).argmax(1) == self.data.y_test).float().mean())
        res = {"epoch_s_median": statistics.median(self.times), "epoch_s_all": self.times,
               "epoch_cpu_s_median": statistics.median(self.cpu_times), "epoch_cpu_s_all": self.cpu_times,
               "test_acc": acc, "epochs": len(self.times)}
        print(f"  {self.name:14s} epoch {res['epoch_s_median'] * 1e3:8.1f} ms wall, "
              f"{res['epoch_cpu_s_median'] * 1e3:8.1f} ms cpu   acc {acc:.4f}", flush=True)
        return res


def run_all(libs: dict, k: int, data, epochs: int, seed: int = 0) -> dict:
    """Round-robin: epoch e of every library runs back to back, so load on the machine hits all alike.
    Every library gets the same ``seed`` (initialisation and batch order)."""
    trainers = {lib: Trainer(lib, spec[k], spec[2], data, seed=seed) for lib, spec in libs.items()}
    for _ in range(epochs):
        for tr in trainers.values():
            tr.epoch()
    return {lib: tr.result() for lib, tr in trainers.items()}


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--conv-epochs", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5, help="independent repeats (fresh models); medians and spread")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "snn.json"))
    args = ap.parse_args()

    libs = {"neurocircuits": (nc_mlp, nc_conv, nc_forward)}
    versions = {"torch": torch.__version__, "python": sys.version.split()[0]}
    import neurocircuits

    versions["neurocircuits"] = neurocircuits.__version__
    try:
        import numba

        versions["numba"] = numba.__version__  # neurocircuits' compiled LIF/pool kernels
    except ImportError:
        versions["numba"] = None
    plain = lambda net, x: net(x)  # noqa: E731
    skipped = {}
    for lib, mlp, conv in (("snntorch", SnnTorchMLP, SnnTorchConv), ("spikingjelly", SJMLP, SJConv), ("norse", NorseMLP, NorseConv)):
        try:
            mod = __import__(lib)
            mlp(), conv()
            versions[lib] = getattr(mod, "__version__", None) or _dist_version(lib)
            libs[lib] = (mlp, conv, plain)
        except Exception as e:  # a peer that does not install or import is reported, not fatal
            skipped[lib] = f"{type(e).__name__}: {e}"[:200]
            print(f"  skipping {lib}: {skipped[lib]}")

    tasks = (("mlp_64_128_10_T25", "flat", args.epochs, 0), ("conv_16_32_T8", "image", args.conv_epochs, 1))
    runs: list[dict] = []
    for run in range(args.runs):
        res: dict = {}
        for task, layout, epochs, k in tasks:
            data = load_digits(layout)
            print(f"run {run + 1}/{args.runs} {task}: {epochs} epochs, batch 128, {len(data.y_train)} train samples")
            res[task] = run_all(libs, k, data, epochs, seed=run)  # run r: seed r for every library
            base, cbase = res[task]["neurocircuits"]["epoch_s_median"], res[task]["neurocircuits"]["epoch_cpu_s_median"]
            for lib in libs:
                if lib != "neurocircuits":
                    r = res[task][lib]["epoch_s_median"] / base
                    res[task][lib]["time_ratio_vs_neurocircuits"] = r
                    res[task][lib]["cpu_time_ratio_vs_neurocircuits"] = res[task][lib]["epoch_cpu_s_median"] / cbase
                    print(f"  neurocircuits is {r:.2f}x faster than {lib} per epoch (wall; cpu "
                          f"{res[task][lib]['cpu_time_ratio_vs_neurocircuits']:.2f}x)")
        runs.append(res)
    # summary over runs: median of the per-run medians and the spread (min, max) of every number
    summary: dict = {}
    for task, *_ in tasks:
        summary[task] = {}
        for lib in libs:
            rows = [r[task][lib] for r in runs]
            entry = {}
            for key in ("epoch_s_median", "epoch_cpu_s_median", "test_acc", "time_ratio_vs_neurocircuits",
                        "cpu_time_ratio_vs_neurocircuits"):
                vals = [row[key] for row in rows if key in row]
                if vals:
                    entry[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
            summary[task][lib] = entry
    for task, *_ in tasks:
        for lib in libs:
            e = summary[task][lib]
            if lib != "neurocircuits":
                w, c = e["time_ratio_vs_neurocircuits"], e["cpu_time_ratio_vs_neurocircuits"]
                print(f"{task} {lib}: {w['median']:.2f}x wall ({w['min']:.2f}-{w['max']:.2f}), "
                      f"{c['median']:.2f}x cpu ({c['min']:.2f}-{c['max']:.2f}) over {len(runs)} runs")

    out = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
                       "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
           "load_average_at_end": os.getloadavg(), "runs": len(runs), "versions": versions, "skipped": skipped,
           "summary": summary, "results": runs}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
