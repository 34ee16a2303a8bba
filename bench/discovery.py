"""Circuit discovery: neurocircuits vs auto-circuit (and a TransformerLens hook sweep), same model, same data.

Run with the bench environment and one intra-op thread:

    OMP_NUM_THREADS=1 /work/venvs/bench/bin/python bench/discovery.py [--sizes small,medium] [--repeats 3]

Both sides use one TransformerLens 2.x ``HookedTransformer`` (random weights, built from a config
in code, configured with split q/k/v inputs and per-head results) and the same prompt pairs
(induction-style sequences: the second half repeats the first; the corrupt prompt re-draws the first
half). neurocircuits drives the model through ``models.adapters.transformer_lens.TLAdapter``;
auto-circuit through ``patchable_model(..., factorized=True, separate_qkv=True)``. The edge graphs
are identical (small: 110 edges, medium: 1,519 edges) and are matched edge by edge.

Timed (median of ``--repeats`` runs, ``time.perf_counter``):

- EAP (logit difference, corrupt ablation) vs auto-circuit ``mask_gradient_prune_scores`` with
  ``mask_val=0``;
- EAP-IG with 5 steps vs auto-circuit's ``integrated_grad_samples=5``;
- exact edge patching (each edge ablated alone) vs a loop over auto-circuit's patch masks, one
  patched forward per edge (for medium, a sample of edges is timed and extrapolated; reported);
- ACDC with the same tau and the KL-divergence target vs auto-circuit ``acdc_prune_scores``;
- node patching (each writer's output replaced by its corrupt value) vs a TransformerLens
  ``run_with_hooks`` sweep.

Agreement: Spearman rank correlation of |score| over the matched edges (nodes for node patching),
and edge IoU of the ACDC circuits. Results go to ``bench/results/discovery.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
warnings.filterwarnings("ignore")

from neurocircuits.data.tasks import PromptPairs  # noqa: E402
from neurocircuits.graph import write_atomic  # noqa: E402
from neurocircuits.models.adapters.transformer_lens import TLAdapter, tiny_tl_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "discovery.json"

SIZES: dict[str, dict[str, Any]] = {
    "small": dict(n_layers=2, n_heads=4, d_model=64, n_pos=16, batch=32, exact_sample=None),
    "medium": dict(n_layers=4, n_heads=8, d_model=128, n_pos=24, batch=32, exact_sample=60),
}
D_VOCAB = 50


# -- data and models -------------------------------------------------------------------------------
def make_pairs(batch: int, n_pos: int, seed: int = 0) -> PromptPairs:
    """Induction-style pairs: clean = [x, x][:n_pos]; corrupt re-draws the first half."""
    g = torch.Generator().manual_seed(seed)
    half = (n_pos + 1) // 2
    first = torch.randint(0, D_VOCAB, (batch, half), generator=g)
    clean = torch.cat([first, first], dim=1)[:, :n_pos]
    other = torch.randint(0, D_VOCAB, (batch, half), generator=g)
    corrupt = torch.cat([other, clean[:, half:]], dim=1)[:, :n_pos]
    answer = clean[:, n_pos - half].clone()  # what induction predicts after the last token
    wrong = (answer + 1 + torch.randint(0, D_VOCAB - 1, (batch,), generator=g)) % D_VOCAB
    return PromptPairs(clean, corrupt, answer, wrong)


def build_models(size: str, seed: int = 0) -> tuple[Any, Any, Any]:
    cfg = SIZES[size]
    kw = dict(n_layers=cfg["n_layers"], n_heads=cfg["n_heads"], d_model=cfg["d_model"], d_vocab=D_VOCAB,
              n_ctx=max(64, cfg["n_pos"]), seed=seed)
    ours, theirs, plain = tiny_tl_model(**kw), tiny_tl_model(**kw), tiny_tl_model(**kw)
    for other in (theirs, plain):
        for (k, a), (_, b) in zip(ours.state_dict().items(), other.state_dict().items()):
            if not torch.equal(a, b):
                raise RuntimeError(f"TransformerLens models built with one seed differ at {k}.")
    return TLAdapter(ours), theirs, plain


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any, list[float]]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out, times


#: process CPU seconds (ours, peer) of the last timed_pair, medians; record() reports them with the
#: wall times (one thread: CPU time is less sensitive to other jobs on a shared machine)
_LAST_CPU: dict[str, float] = {}


def timed_pair(f_ours: Callable[[], Any], f_peer: Callable[[], Any], repeats: int) -> tuple[float, Any, float, Any]:
    """Alternate ours and the peer run by run, so that both see the same machine load; medians."""
    t_o, t_p, c_o, c_p, o, p = [], [], [], [], None, None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        o = f_ours()
        t_o.append(time.perf_counter() - t0)
        c_o.append(time.process_time() - c0)
        c0, t0 = time.process_time(), time.perf_counter()
        p = f_peer()
        t_p.append(time.perf_counter() - t0)
        c_p.append(time.process_time() - c0)
    _LAST_CPU.update(ours=statistics.median(c_o), peer=statistics.median(c_p))
    return statistics.median(t_o), o, statistics.median(t_p), p


# -- neurocircuits side -----------------------------------------------------------------------------
def ours_method(model: Any, pairs: PromptPairs, method: str, metric: str = "logit_diff",
                memory_mb: float | None = None, **kw: Any) -> dict:
    """Score with one registered method: engine (clean/corrupt caches) + method, no curve/selection.

    ``memory_mb`` is the engine's budget for one batched forward (None: the library default); a tiny
    budget forces one ablation configuration per forward.
    """
    from neurocircuits.discover import METHODS, PatchEngine

    extra = {} if memory_mb is None else {"memory_mb": memory_mb}
    engine = PatchEngine(model, pairs, metric=metric, ablation="corrupt", progress=False, **extra)
    out = METHODS.get(method)(engine, **kw)
    scores = out.scores.detach()[:, 0].double().numpy()
    edges = {e.key[:3]: float(s) for e, s in zip(engine.index.edges, scores)}
    kept = None
    if out.circuit is not None:
        kept = {e.key[:3] for e, k in zip(engine.index.edges, out.circuit.reshape(len(engine.index.edges), -1)[:, 0]) if k}
    return {"edges": edges, "nodes": out.node_scores, "kept": kept, "info": dict(out.info)}


# -- auto-circuit side ------------------------------------------------------------------------------
def ac_setup(tl_model: Any, pairs: PromptPairs) -> tuple[Any, Any]:
    from auto_circuit.data import PromptDataLoader, PromptDataset
    from auto_circuit.utils.graph_utils import patchable_model

    ds = PromptDataset(pairs.clean, pairs.corrupt, [a.view(1) for a in pairs.answer], [w.view(1) for w in pairs.wrong])
    loader = PromptDataLoader(ds, seq_len=None, diverge_idx=0, batch_size=len(pairs), shuffle=False)
    pm = patchable_model(tl_model, factorized=True, slice_output="last_seq", separate_qkv=True,
                         device=torch.device("cpu"))
    return pm, loader


def ac_edge_key(edge: Any) -> tuple[str, str, str]:
    """auto-circuit Edge -> neurocircuits (source, target, kind)."""
    s_mod, d_mod = edge.src.module_name, edge.dest.module_name
    s_layer = int(s_mod.split(".")[1]) if s_mod.startswith("blocks.") else None
    if s_mod == "blocks.0.hook_resid_pre":
        src = "embed"
    elif s_mod.endswith("attn.hook_result"):
        src = f"a{s_layer}.h{edge.src.head_idx}"
    elif s_mod.endswith("hook_mlp_out"):
        src = f"m{s_layer}"
    else:
        raise KeyError(s_mod)
    d_layer = int(d_mod.split(".")[1])
    for inp in ("q", "k", "v"):
        if d_mod.endswith(f"hook_{inp}_input"):
            return src, f"a{d_layer}.h{edge.dest.head_idx}.{inp}", inp
    if d_mod.endswith("hook_mlp_in"):
        return src, f"m{d_layer}.in", "mlp"
    if d_mod.endswith("hook_resid_post"):
        return src, "logits", "resid"
    raise KeyError(d_mod)


def ac_scores(pm: Any, prune_scores: dict[str, torch.Tensor]) -> dict[tuple[str, str, str], float]:
    return {ac_edge_key(e): float(prune_scores[e.dest.module_name][e.patch_idx]) for e in pm.edges}


def ac_eap(pm: Any, loader: Any, ig_steps: int | None = None) -> dict:
    from auto_circuit.prune_algos.mask_gradient import mask_gradient_prune_scores

    if ig_steps is None:
        ps = mask_gradient_prune_scores(pm, loader, None, grad_function="logit", answer_function="avg_diff", mask_val=0.0)
    else:
        ps = mask_gradient_prune_scores(pm, loader, None, grad_function="logit", answer_function="avg_diff",
                                        integrated_grad_samples=ig_steps)
    return ac_scores(pm, ps)


def _logit_diff(logits: torch.Tensor, pairs: PromptPairs) -> float:
    idx = torch.arange(len(pairs))
    return float((logits[idx, pairs.answer] - logits[idx, pairs.wrong]).mean())


def ac_exact(pm: Any, pairs: PromptPairs, edges: list[Any]) -> dict:
    """One auto-circuit patched forward per edge: that edge alone takes its corrupt value."""
    from auto_circuit.utils.ablation_activations import src_ablations
    from auto_circuit.utils.graph_utils import patch_mode, set_all_masks

    out: dict[tuple[str, str, str], float] = {}
    with torch.inference_mode():
        base = _logit_diff(pm(pairs.clean)[pm.out_slice], pairs)
    patch_src = src_ablations(pm, pairs.corrupt)
    set_all_masks(pm, val=0.0)
    with patch_mode(pm, patch_src):
        for edge in edges:
            edge.patch_mask(pm).data[edge.patch_idx] = 1.0
            with torch.inference_mode():
                logits = pm(pairs.clean)[pm.out_slice]
            edge.patch_mask(pm).data[edge.patch_idx] = 0.0
            out[ac_edge_key(edge)] = _logit_diff(logits, pairs) - base
    return out


def ac_acdc(pm: Any, loader: Any, tau: float) -> set[tuple[str, str, str]]:
    import math

    from auto_circuit.prune_algos.ACDC import acdc_prune_scores

    mant, exp = _mant_exp(tau)
    ps = acdc_prune_scores(pm, loader, None, tao_exps=[exp], tao_bases=[mant])
    return {ac_edge_key(e) for e in pm.edges if math.isinf(float(ps[e.dest.module_name][e.patch_idx]))}


def _mant_exp(tau: float) -> tuple[int, int]:
    exp = int(np.floor(np.log10(tau)))
    mant = tau / 10**exp
    if abs(mant - round(mant)) > 1e-9:
        raise ValueError(f"auto-circuit takes tau = base * 10**exp with an integer base; {tau} is not one.")
    return int(round(mant)), exp


# -- TransformerLens node sweep ---------------------------------------------------------------------
def tl_node_sweep(tl_model: Any, pairs: PromptPairs) -> dict[str, float]:
    cfg = tl_model.cfg
    with torch.inference_mode():
        base = _logit_diff(tl_model(pairs.clean)[:, -1], pairs)
        _, cache = tl_model.run_with_cache(pairs.corrupt)
    out: dict[str, float] = {}

    def run(name: str, hook_name: str, head: int | None) -> None:
        corrupt = cache[hook_name]

        def hook(x: torch.Tensor, hook: Any) -> torch.Tensor:
            if head is None:
                return corrupt
            x = x.clone()
            x[:, :, head] = corrupt[:, :, head]
            return x

        with torch.inference_mode():
            logits = tl_model.run_with_hooks(pairs.clean, fwd_hooks=[(hook_name, hook)])[:, -1]
        out[name] = _logit_diff(logits, pairs) - base

    run("embed", "blocks.0.hook_resid_pre", None)
    for layer in range(cfg.n_layers):
        for h in range(cfg.n_heads):
            run(f"a{layer}.h{h}", f"blocks.{layer}.attn.hook_result", h)
        if not cfg.attn_only:
            run(f"m{layer}", f"blocks.{layer}.hook_mlp_out", None)
    return out


# -- comparison -------------------------------------------------------------------------------------
def spearman_abs(a: dict, b: dict) -> float:
    from scipy.stats import spearmanr

    keys = sorted(set(a) & set(b))
    if len(keys) != len(a) or len(keys) != len(b):
        raise RuntimeError(f"edge sets differ: {len(a)} vs {len(b)} edges, {len(keys)} in common.")
    x = np.abs([a[k] for k in keys])
    y = np.abs([b[k] for k in keys])
    return float(spearmanr(x, y).statistic)


def max_abs_diff(a: dict, b: dict, sign: float = 1.0) -> float:
    return float(max(abs(a[k] - sign * b[k]) for k in a))


STEPS = ("eap", "eap_ig", "node_patching", "acdc", "edge_patching", "acdc_chain", "acdc_1cfg", "edge_patching_1cfg")


def bench_size(size: str, repeats: int, taus: dict[str, float], steps: tuple[str, ...] = STEPS,
               save: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the comparison steps for one model size (cheap steps first); ``save`` is called after each."""
    cfg = SIZES[size]
    ours_model, ac_model, plain_tl = build_models(size)
    pairs = make_pairs(cfg["batch"], cfg["n_pos"])
    n_edges = ours_model.computation_graph().n_edges
    pm, loader = ac_setup(ac_model, pairs)
    if len(pm.edges) != n_edges:
        raise RuntimeError(f"auto-circuit has {len(pm.edges)} edges, neurocircuits {n_edges}.")
    print(f"\n== {size}: {cfg['n_layers']} layers, {cfg['n_heads']} heads, d_model {cfg['d_model']}, "
          f"{cfg['n_pos']} tokens, batch {cfg['batch']}: {n_edges} edges", flush=True)
    rows: dict[str, Any] = {}
    result = {"config": dict(cfg), "n_edges": n_edges,
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "load_average_at_start": list(os.getloadavg()), "methods": rows}
    slow = repeats if size == "small" else 1  # ACDC and edge patching: ours and the peer alternate run by run
    state: dict[str, Any] = {}

    def record(name: str, t_ours: float, t_peer: float, agree: dict[str, Any], note: str = "") -> None:
        ratio = t_peer / t_ours
        cpu = {}
        if _LAST_CPU:
            cpu = {"ours_cpu_s": _LAST_CPU["ours"], "peer_cpu_s": _LAST_CPU["peer"],
                   "speedup_cpu": _LAST_CPU["peer"] / _LAST_CPU["ours"]}
            _LAST_CPU.clear()
        rows[name] = {"ours_s": t_ours, "peer_s": t_peer, "speedup": ratio, **cpu, **agree,
                      **({"note": note} if note else {}), "load_average": round(os.getloadavg()[0], 2)}
        agree_s = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in agree.items())
        cpu_s = f"   CPU {cpu['speedup_cpu']:.2f}x" if cpu else ""
        print(f"{name:<18} ours {t_ours:8.3f} s   peer {t_peer:8.3f} s   peer/ours {ratio:6.2f}x{cpu_s}   {agree_s}"
              + (f"   ({note})" if note else ""), flush=True)
        if save is not None:
            save(result)

    def eap() -> None:
        t_o, o, t_p, p = timed_pair(lambda: ours_method(ours_model, pairs, "eap"), lambda: ac_eap(pm, loader), repeats)
        record("eap", t_o, t_p, {"spearman_abs": spearman_abs(o["edges"], p)})

    def eap_ig() -> None:
        for over in ("activations", "inputs"):
            t_o, o, t_p, p_ig = timed_pair(lambda: ours_method(ours_model, pairs, "eap_ig", steps=5, over=over),
                                           lambda: ac_eap(pm, loader, ig_steps=5), repeats)
            record(f"eap_ig5_{over[:3]}", t_o, t_p, {"spearman_abs": spearman_abs(o["edges"], p_ig)},
                   note="peer: auto-circuit integrated_grad_samples=5 (interpolates edge masks)")

    def node_patching() -> None:
        t_o, o, t_p, p = timed_pair(lambda: ours_method(ours_model, pairs, "node_patching"),
                                    lambda: tl_node_sweep(plain_tl, pairs), repeats)
        nodes = o["nodes"] or {}
        record("node_patching", t_o, t_p, {"spearman_abs": spearman_abs(nodes, p), "max_abs_diff": max_abs_diff(nodes, p)},
               note="peer = TransformerLens run_with_hooks sweep")

    def acdc() -> None:
        tau = taus[size]
        t_o, o, t_p, kept_p = timed_pair(
            lambda: ours_method(ours_model, pairs, "acdc", metric="kl_divergence", threshold=tau),
            lambda: ac_acdc(pm, loader, tau), slow)
        kept_o = o["kept"] or set()
        iou = len(kept_o & kept_p) / max(1, len(kept_o | kept_p))
        state["acdc"] = (t_p, kept_o)
        record("acdc", t_o, t_p, {"tau": tau, "kept_ours": len(kept_o), "kept_peer": len(kept_p), "edge_iou": iou,
                                  "n_forwards": o["info"].get("n_batched_forwards"),
                                  "n_configs": o["info"].get("n_configs")})

    def acdc_chain() -> None:
        tau = taus[size]
        t_c, oc, _ = timed(lambda: ours_method(ours_model, pairs, "acdc", metric="kl_divergence", threshold=tau,
                                               tree=False), slow)
        t_p, kept_o = state.get("acdc", (float("nan"), None))
        record("acdc_chain", t_c, t_p, {"same_circuit_as_batched": (oc["kept"] or set()) == kept_o,
                                        "kept_ours": len(oc["kept"] or set()),
                                        "n_forwards": oc["info"].get("n_batched_forwards"),
                                        "n_configs": oc["info"].get("n_configs")},
               note="ours with the previous speculation (chain of cumulative removals, tree=False)")

    def acdc_1cfg() -> None:
        tau = taus[size]
        t_o1, o1, _ = timed(lambda: ours_method(ours_model, pairs, "acdc", metric="kl_divergence", threshold=tau,
                                                memory_mb=1e-3), slow)
        kept_1 = o1["kept"] or set()
        t_p, kept_o = state.get("acdc", (float("nan"), None))
        record("acdc_1cfg", t_o1, t_p, {"same_circuit_as_batched": kept_1 == kept_o, "kept_ours": len(kept_1)},
               note="ours with one ablation configuration per forward (memory_mb tiny)")

    def edge_patching() -> None:
        edges = sorted(pm.edges, key=lambda e: (e.dest.module_name, e.patch_idx))
        sample = cfg["exact_sample"]
        if sample is None or sample >= len(edges):
            t_o, o, t_p, p = timed_pair(lambda: ours_method(ours_model, pairs, "edge_patching"),
                                        lambda: ac_exact(pm, pairs, edges), slow)
            state["edge_patching"] = o
            state["edge_patching_peer_s"] = t_p
            record("edge_patching", t_o, t_p, {"spearman_abs": spearman_abs(o["edges"], p),
                                               "max_abs_diff": max_abs_diff(o["edges"], p)})
        else:
            step = len(edges) / sample
            chosen = [edges[int(i * step)] for i in range(sample)]
            t_o, o, t_s, p = timed_pair(lambda: ours_method(ours_model, pairs, "edge_patching"),
                                        lambda: ac_exact(pm, pairs, chosen), slow)
            state["edge_patching"] = o
            t_p = t_s * len(edges) / sample
            _LAST_CPU["peer"] *= len(edges) / sample  # the same extrapolation for the CPU time
            state["edge_patching_peer_s"] = t_p
            sub = {k: o["edges"][k] for k in p}
            record("edge_patching", t_o, t_p, {"spearman_abs_sample": spearman_abs(sub, p),
                                               "max_abs_diff_sample": max_abs_diff(sub, p)},
                   note=f"auto-circuit timed on {sample} of {len(edges)} edges ({t_s:.2f} s) and extrapolated")

    def edge_patching_1cfg() -> None:
        t_o1, o1, _ = timed(lambda: ours_method(ours_model, pairs, "edge_patching", memory_mb=1e-3), slow)
        extra = {}
        if "edge_patching" in state:
            extra["max_abs_diff_vs_batched"] = max_abs_diff(o1["edges"], state["edge_patching"]["edges"])
        record("edge_patching_1cfg", t_o1, state.get("edge_patching_peer_s", float("nan")), extra,
               note="ours with one ablation configuration per forward (memory_mb tiny)")

    table = {"eap": eap, "eap_ig": eap_ig, "node_patching": node_patching, "acdc": acdc, "acdc_chain": acdc_chain,
             "acdc_1cfg": acdc_1cfg, "edge_patching": edge_patching, "edge_patching_1cfg": edge_patching_1cfg}
    for step_name in steps:
        table[step_name]()
    return result


def markdown_table(results: dict[str, Any]) -> str:
    """README rows from a results file: one line per (size, method)."""
    lines = [
        f"Measured {results.get('date', '?')[:10]} on {results.get('machine', {}).get('platform', '?')}, "
        f"{results.get('machine', {}).get('cpu_count', '?')} CPUs, OMP_NUM_THREADS=1; "
        + ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items()) + ".",
        "",
        "| size | method | neurocircuits (s) | peer (s) | peer / ours | agreement | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, block in results.get("sizes", {}).items():
        for name, row in block.get("methods", {}).items():
            agree = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                              if k not in ("ours_s", "peer_s", "speedup", "note", "load_average"))
            lines.append(f"| {size} ({block.get('n_edges')} edges) | {name} | {row['ours_s']:.3g} | {row['peer_s']:.3g} | "
                         f"{row['speedup']:.2f}x | {agree} | {row.get('note', '')} |")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "numpy", "neurocircuits", "auto-circuit", "transformer-lens"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="small,medium")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tau-small", type=float, default=1e-4)
    ap.add_argument("--tau-medium", type=float, default=1e-4)
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--steps", default=",".join(STEPS), help=f"comparison steps, comma separated: {', '.join(STEPS)}")
    ap.add_argument("--merge", action="store_true", help="update an existing results file instead of replacing it")
    ap.add_argument("--table", action="store_true", help="print the README table of --out and exit")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(Path(args.out).read_text())))
        return
    try:
        import auto_circuit  # noqa: F401
        import transformer_lens  # noqa: F401
    except ImportError as err:
        sys.exit(f"bench/discovery.py needs the bench extra (auto-circuit, transformer-lens<3): {err}")
    taus = {"small": args.tau_small, "medium": args.tau_medium}
    steps = tuple(x.strip() for x in args.steps.split(",") if x.strip())
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        sys.exit(f"unknown steps {unknown}; valid: {', '.join(STEPS)}")
    out: dict[str, Any] = {}
    if args.merge and Path(args.out).is_file():
        out = json.loads(Path(args.out).read_text())
    out.update({
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "load_average_at_start": list(os.getloadavg())},
        "versions": versions(),
        "protocol": "ours and the peer alternate run by run (same machine load); medians over --repeats runs "
                    "(medium ACDC and edge patching: 1 run each); speedup = peer seconds / ours seconds; "
                    "agreement = Spearman of |score| over matched edges",
    })
    out.setdefault("sizes", {})

    def save_size(size: str) -> Callable[[dict[str, Any]], None]:
        def save(result: dict[str, Any]) -> None:
            previous = out["sizes"].get(size, {}).get("methods", {}) if args.merge else {}
            out["sizes"][size] = {**result, "methods": {**previous, **result["methods"]}}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(args.out, json.dumps(out, indent=1))
        return save

    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        bench_size(size, args.repeats, taus, steps=steps, save=save_size(size))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
