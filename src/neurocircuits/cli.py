"""The ``neurocircuits`` command. It only wires sub-packages together: each command parses its
options and calls the public API of one sub-package."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Build, simulate, train and dissect neural circuits.")
console = Console()


@app.command()
def zoo(family: str = typer.Option(None, help="Only models of this family.")) -> None:
    """List the registered models."""
    from .models import MODELS, list_models

    table = Table("model", "family", "paper")
    for name in list_models(family):
        meta = MODELS.meta(name)
        table.add_row(name, str(meta.get("family", "")), str(meta.get("paper", "")))
    console.print(table)


@app.command()
def train(
    model: str = typer.Argument(..., help="A registered spiking model, e.g. spiking_mlp or spiking_conv."),
    data: str = typer.Option("digits", help="Data set: digits, rate_digits, sequential_digits, moving_bars, spiking_motifs."),
    epochs: int = typer.Option(15, help="Training epochs."),
    time_steps: int = typer.Option(25, help="Simulation steps per sample (static data)."),
    encoding: str = typer.Option("direct", help="Input encoding for static data: direct, rate, latency, phase."),
    neuron: str = typer.Option("lif", help="Neuron: lif, plif, if, alif, gif."),
    surrogate: str = typer.Option("atan", help="Surrogate gradient: atan, fast_sigmoid, triangle, sigmoid, straight_through."),
    hidden: int = typer.Option(128, help="Hidden width (spiking_mlp)."),
    batch_size: int = typer.Option(128),
    lr: float = typer.Option(2e-3),
    seed: int = typer.Option(0),
    checkpoint: str = typer.Option(None, help="Checkpoint file, written atomically after every epoch."),
    resume: bool = typer.Option(False, help="Resume from --checkpoint if it exists."),
) -> None:
    """Train a spiking network by surrogate-gradient BPTT; print accuracy, spike rates and energy."""
    import torch

    from .data.datasets import load_dataset
    from .learning.bptt import BPTTConfig, evaluate, train_classifier
    from .models import MODELS, create_model
    from .models.spiking import energy_estimate

    torch.manual_seed(seed)
    conv = model == "spiking_conv"
    ds = load_dataset(data, layout="image") if (conv and data == "digits") else load_dataset(data)
    cfg: dict = {"neuron": neuron, "encoding": encoding, "surrogate": surrogate}
    if ds.time_first:
        steps = ds.x_train.shape[0]
        cfg.update(encoding="direct", time_steps=steps)
    else:
        cfg["time_steps"] = time_steps
    if MODELS.meta(model).get("family") != "spiking":
        raise typer.BadParameter(f"{model!r} is not a spiking model; try one of: spiking_mlp, spiking_conv.")
    if conv:
        cfg.update(in_channels=ds.in_shape[0], image_size=ds.in_shape[-1], out_features=ds.n_classes)
    else:
        cfg.update(in_features=ds.in_shape[-1], hidden=[hidden], out_features=ds.n_classes)
    net = create_model(model, **cfg)
    console.print(f"[bold]{model}[/] on {ds.description}: {sum(p.numel() for p in net.parameters())} parameters")

    def report(epoch: int, m: dict) -> None:
        console.print(f"epoch {m['epoch']:>3}  loss {m['loss']:.4f}  train {m['train_acc']:.3f}  test {m['test_acc']:.3f}")

    res = train_classifier(net, ds.x_train, ds.y_train, ds.x_test, ds.y_test,
                           BPTTConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
                           time_first=ds.time_first, checkpoint=checkpoint, resume=resume, on_epoch=report)
    acc, rates = evaluate(net, ds.x_test, ds.y_test, ds.time_first)
    console.print(f"test accuracy: [bold]{acc:.4f}[/]")
    console.print("spike rates (spikes/neuron/step): " + ", ".join(f"{r:.3f}" for r in rates))
    xs = ds.x_test[:, :256] if ds.time_first else ds.x_test[:256]
    e = energy_estimate(net, xs)
    table = Table("layer", "MAC/step", "input rate", "ops/inference", "energy (pJ)")
    for layer in e.layers:
        table.add_row(layer.name, str(layer.macs_per_step), f"{layer.input_rate:.3f}",
                      f"{layer.ops:.0f} {'SOP' if layer.spiking_input else 'MAC'}", f"{layer.energy_pj:.0f}")
    console.print(table)
    console.print(f"energy per inference: SNN {e.snn_energy_pj / 1e3:.1f} nJ vs ANN {e.ann_energy_pj / 1e3:.1f} nJ "
                  f"(E_AC 0.9 pJ, E_MAC 4.6 pJ, T={e.time_steps}); history: {len(res.history)} epochs")


# -- discover -------------------------------------------------------------------------------------
_DEFAULT_METHODS = "eap,eap_ig,acdc"


def _check_name(value: str, valid: list[str], option: str, kind: str) -> str:
    if value not in valid:
        raise typer.BadParameter(f"unknown {kind} {value!r}; valid {kind}s: {', '.join(valid)}.", param_hint=option)
    return value


def _load_discovery_model(spec: str, device: str | None) -> tuple[object, dict, object]:
    """A model from a pretrained name, a neurocircuits checkpoint or a local HuggingFace folder.

    Returns (model, metadata, tokenizer or None).
    """
    from pathlib import Path

    from .models import pretrained

    path = Path(spec)
    if spec in pretrained.list_pretrained():
        return pretrained.load_pretrained(spec, device=device), dict(pretrained.pretrained_metadata(spec)), None
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise typer.BadParameter(f"{spec!r} is a folder without config.json, so not a HuggingFace model folder.",
                                     param_hint="--model")
        from .models.adapters import hf

        loaded = hf.load_hf_model(path, device=device)
        model, tokenizer = loaded if isinstance(loaded, tuple) else (loaded, getattr(loaded, "tokenizer", None))
        return model, {"source": "huggingface", "path": str(path)}, tokenizer
    if path.is_file() and path.suffix == ".safetensors":
        from .models.transformer import load_with_metadata

        model, meta = load_with_metadata(path, device=device)
        return model, dict(meta), None
    raise typer.BadParameter(
        f"unknown model {spec!r}: not a pretrained name, a .safetensors checkpoint or a HuggingFace folder. "
        f"Pretrained models: {', '.join(pretrained.list_pretrained())}.", param_hint="--model")


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise typer.BadParameter(f"{device!r} is not a torch device; use e.g. cpu, cuda or cuda:0.",
                                 param_hint="--device") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise typer.BadParameter("CUDA is not available in this torch build or machine; use --device cpu.",
                                 param_hint="--device")


@app.command()
def discover(
    model: str = typer.Option(None, help="Pretrained name (default: the task's shipped model, else 'induction'), "
                              "a .safetensors checkpoint, or a local HuggingFace model folder."),
    task: str = typer.Option(None, help="Task whose prompt pairs to use (default: the model's own task)."),
    data: str = typer.Option(None, help="JSONL file of prompt pairs (clean, corrupt, answer, wrong) instead of a task."),
    method: str = typer.Option(_DEFAULT_METHODS, help="Discovery method(s), comma separated."),
    metric: str = typer.Option("logit_diff", help="Metric: logit_diff, kl_divergence, prob, ..."),
    threshold: float = typer.Option(None, help="Keep edges with |score| >= threshold (ACDC: its tau)."),
    top_k: int = typer.Option(None, "--top-k", help="Keep the k edges with the largest |score|."),
    ablation: str = typer.Option("corrupt", help="Ablation source: corrupt, mean, zero, resample."),
    out: str = typer.Option(None, help="Report folder (default: reports/<model>-<task>)."),
    device: str = typer.Option(None, help="Torch device, e.g. cpu or cuda (default: where the model loads)."),
    seed: int = typer.Option(0, help="Seed for the prompt pairs and resampling."),
    n_examples: int = typer.Option(64, "--n-examples", help="Number of prompt pairs drawn from the task."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr."),
) -> None:
    """Find the circuit behind a behaviour: score edges, select a circuit, write report.html."""
    import warnings
    from pathlib import Path

    from . import discover as disc
    from . import viz
    from .data.tasks import get_task, list_tasks, load_pairs_jsonl
    from .models import pretrained

    methods = [m.strip() for m in method.split(",") if m.strip()]
    if not methods:
        raise typer.BadParameter("give at least one method.", param_hint="--method")
    for m in methods:
        _check_name(m, disc.list_methods(), "--method", "method")
    _check_name(metric, disc.list_metrics(), "--metric", "metric")
    _check_name(ablation, disc.list_ablations(), "--ablation", "ablation")
    if task is not None:
        _check_name(task, list_tasks(), "--task", "task")
    if threshold is not None and top_k is not None:
        raise typer.BadParameter("pass --threshold or --top-k, not both.", param_hint="--top-k")
    if n_examples < 1:
        raise typer.BadParameter(f"--n-examples must be >= 1, got {n_examples}.", param_hint="--n-examples")
    if device is not None:
        _check_device(device)
    if model is None:
        if task is not None and task not in pretrained.list_pretrained():
            raise typer.BadParameter(
                f"no shipped model is trained on task {task!r}; pass --model (a checkpoint or HuggingFace folder). "
                f"Shipped models: {', '.join(pretrained.list_pretrained()) or '(none)'}.", param_hint="--model")
        model = task or "induction"
    net, meta, tokenizer = _load_discovery_model(model, device)
    task = task or meta.get("task")
    if data is not None:
        if not Path(data).is_file():
            raise typer.BadParameter(f"no prompt-pair file at {data!r}.", param_hint="--data")
        pairs = load_pairs_jsonl(data, tokenizer=tokenizer)
        source = Path(data).stem
    elif task is not None:
        pairs = get_task(task).make_pairs(n_examples, seed=seed)
        source = task
    else:
        raise typer.BadParameter(f"model {model!r} has no task of its own; pass --task or --data.", param_hint="--task")
    model_name = Path(model).stem if (Path(model).exists()) else model
    out_dir = Path(out) if out else Path("reports") / f"{model_name}-{source}"
    results = []
    for m in methods:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = disc.discover(net, pairs, method=m, metric=metric, ablation=ablation, top_k=top_k,
                                    threshold=threshold, device=device, seed=seed, progress=progress)
            except (ValueError, KeyError, RuntimeError) as err:
                console.print(f"[red]error:[/] {m}: {err}")
                raise typer.Exit(1) from None
        for w in caught:
            if issubclass(w.category, UserWarning):
                console.print(f"[yellow]warning:[/] {w.message}")
        results.append(res)
    run_meta = {"model": model_name, "task": source, "data": data, "n_pairs": len(pairs), "metric": metric,
                "ablation": ablation, "threshold": threshold, "top_k": top_k, "seed": seed,
                "device": str(device or "default"), "methods": ", ".join(methods)}
    label = model_name if model_name == source else f"{model_name} / {source}"
    viz.print_summary(results, console=console, title=f"{label}: {len(pairs)} pairs, {metric}")
    viz.write_report(out_dir, results, meta=run_meta)
    console.print(f"report: {out_dir / 'report.html'}")


# -- connectome -----------------------------------------------------------------------------------
connectome_app = typer.Typer(no_args_is_help=True, help="Connectomes from shipped data: list, info, draw.")
app.add_typer(connectome_app, name="connectome")


def _load_connectome(name: str):  # noqa: ANN202
    from .data.connectomes import CONNECTOMES, MissingExtraError, connectome

    if name not in CONNECTOMES:
        raise typer.BadParameter(f"unknown connectome {name!r}; valid: {', '.join(CONNECTOMES.names())}.",
                                 param_hint="NAME")
    try:
        return connectome(name)
    except MissingExtraError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from None


@connectome_app.command("list")
def connectome_list() -> None:
    """List the connectomes with species, counts, source paper and licence."""
    from .data.connectomes import list_connectomes

    table = Table("name", "species", "neurons", "chemical", "electrical", "paper")
    for r in list_connectomes():
        table.add_row(r.name, r.species, str(r.n_neurons), str(r.n_chemical), str(r.n_electrical), r.paper)
    console.print(table)


@connectome_app.command("info")
def connectome_info(name: str = typer.Argument(..., help="e.g. celegans/cook2019_herm")) -> None:
    """Counts by cell class, edge kind and sign, and the source of one connectome."""
    from collections import Counter

    g = _load_connectome(name)
    console.print(f"[bold]{name}[/]: {g.n_nodes} cells, {g.n_edges} directed edges")
    for key in ("species", "stage", "paper", "doi", "licence", "sign_source"):
        if key in g.attrs:
            console.print(f"  {key}: {g.attrs[key]}")
    table = Table("cell class", "cells")
    for cls, n in sorted(Counter(str(n.attrs.get("cell_class", n.kind)) for n in g.nodes).items()):
        table.add_row(cls, str(n))
    console.print(table)
    edges = Table("edge kind", "sign", "edges", "synapses")
    groups: dict[tuple[str, str], list[float]] = {}
    for e in g.edges:
        sign = "" if e.kind == "electrical" else {1: "+", -1: "-"}.get(e.sign or 0, "?")
        groups.setdefault((e.kind, sign), []).append(e.weight or 0.0)
    for (kind, sign), ws in sorted(groups.items()):
        edges.add_row(kind, sign, str(len(ws)), f"{sum(ws):.0f}")
    console.print(edges)


@connectome_app.command("draw")
def connectome_draw(
    name: str = typer.Argument(..., help="e.g. celegans/cook2019_herm"),
    out: str = typer.Option(None, help="SVG file (default: <name with _>.svg)."),
    max_edges: int = typer.Option(600, help="Draw only the heaviest edges."),
) -> None:
    """Write an SVG diagram of the connectome laid out by cell class."""
    from .data.connectomes import connectome_svg

    g = _load_connectome(name)
    path = out or name.replace("/", "_") + ".svg"
    connectome_svg(g, path, max_edges=max_edges)
    console.print(f"wrote {path}")


# --- simulate (owner: sim) ---------------------------------------------------------------------------
def _load_network_file(path: str, n_neurons: int, seed: int, device: str, dtype: object):  # noqa: ANN202
    """A model file is a Python file defining ``build(n_neurons, seed, device, dtype) -> (net, spike_monitor)``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("neurocircuits_user_network", path)
    if spec is None or spec.loader is None:
        raise typer.BadParameter(f"cannot load {path!r}: give cuba, coba, or a .py file defining build(...).")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "build"):
        raise typer.BadParameter(f"{path} must define build(n_neurons, seed, device, dtype) -> (net, spike_monitor).")
    return module.build(n_neurons=n_neurons, seed=seed, device=device, dtype=dtype)


@app.command()
def simulate(
    network: str = typer.Argument("cuba", help="cuba, coba, or a .py model file defining build(...)."),
    n_neurons: int = typer.Option(4000, help="Number of neurons."),
    duration_ms: float = typer.Option(1000.0, help="Biological time to simulate (ms)."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
    seed: int = typer.Option(0, help="Seed (connectivity, initial potentials)."),
    out: str = typer.Option("sim_out", help="Output folder (raster, spikes, summary.json)."),
    connectivity: str = typer.Option("auto", help="p (0.02), fixed_in_degree (80), or auto (p up to 4,000 neurons)."),
    dtype: str = typer.Option("float32", help="float32 or float64."),
    backend: str = typer.Option("auto", help="auto, numba (CPU fast path) or torch."),
    raster_format: str = typer.Option("png", help="png or svg."),
) -> None:
    """Simulate CUBA/COBA (Vogels & Abbott 2005) or a model file; print rates, CV ISI, spikes, run time."""
    import json
    import time
    from pathlib import Path

    import torch

    from . import sim
    from .graph import write_atomic
    from .viz.raster import plot_raster

    if dtype not in ("float32", "float64"):
        raise typer.BadParameter("--dtype must be float32 or float64.")
    if raster_format not in ("png", "svg"):
        raise typer.BadParameter("--raster-format must be png or svg.")
    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    t0 = time.perf_counter()
    if network in ("cuba", "coba"):
        conn = connectivity if connectivity != "auto" else ("p" if n_neurons <= 4000 else "fixed_in_degree")
        net, objs = sim.build_cuba(n_neurons, connectivity=conn, seed=seed, device=device, dtype=torch_dtype,
                                   model=network)
        spikes = objs["spikes"]
    else:
        net, spikes = _load_network_file(network, n_neurons, seed, device, torch_dtype)
    net.backend = backend
    net.build()
    used_backend = net.active_backend()
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    net.run(duration_ms)
    t_run = time.perf_counter() - t1
    stats = sim.spike_statistics(spikes.t_ms, spikes.i, spikes.n, duration_ms)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    raster = plot_raster(spikes.t_ms, spikes.i, out_dir / f"raster.{raster_format}", title=f"{network}, N={spikes.n}",
                         t_max_ms=duration_ms, n_neurons=spikes.n)
    npz = sim.save_spikes_npz(out_dir / "spikes.npz", spikes.t_ms, spikes.i, n_neurons=spikes.n,
                              duration_ms=duration_ms, dt_ms=net.dt_ms)
    files = [str(raster), str(npz)]
    try:
        files.append(str(sim.save_spikes_nwb(out_dir / "spikes.nwb", spikes.t_ms, spikes.i, spikes.n)))
    except ImportError:
        pass
    summary = {"network": network, "n_neurons": spikes.n, "duration_ms": duration_ms, "dt_ms": net.dt_ms,
               "seed": seed, "device": str(net.device), "dtype": dtype, "backend": used_backend,
               "build_s": t_build, "run_s": t_run, **stats, "files": files}
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2))
    table = Table("quantity", "value")
    for key in ("n_neurons", "spike_count", "rate_hz", "cv_isi", "fraction_active", "backend", "build_s", "run_s"):
        val = summary[key]
        table.add_row(key, f"{val:.3f}" if isinstance(val, float) else str(val))
    console.print(table)
    console.print(f"wrote {', '.join(files)} and {out_dir / 'summary.json'}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
