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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
