"""Local learning rules through one trainer loop on scikit-learn's digits.

Backprop, predictive coding (PC), incremental PC (iPC), dual propagation and forward-forward train
the same kind of MLP; the table reports best test accuracy and the rule iterations needed to reach
95% (for PC/iPC one iteration is one inference step).

    OMP_NUM_THREADS=1 python examples/memory_learning_rules_digits.py
"""

from __future__ import annotations

from neurocircuits.data.generators import digits_split
from neurocircuits.learning import MLP, Trainer, TrainerConfig, make_rule


def main() -> None:
    Xtr, ytr, Xte, yte = digits_split()
    runs = [
        ("backprop", [64, 128, 10], {"lr": 1e-3}, 10),
        ("pc", [64, 128, 10], {"lr_w": 3e-3, "lr_x": 0.2, "n_inference": 4}, 10),
        ("ipc", [64, 128, 10], {"lr_w": 3e-3, "lr_x": 0.2, "n_inference": 4}, 10),
        ("dual_propagation", [64, 128, 10], {"lr": 1e-3, "beta": 0.1}, 10),
        ("forward_forward", [74, 256, 256], {"lr": 3e-3}, 10),
    ]
    print(f"{'rule':>18s}  {'best acc':>8s}  {'iters to 95%':>12s}")
    for name, sizes, kw, epochs in runs:
        model = MLP(sizes, "relu", seed=0)
        hist = Trainer(make_rule(name, **kw), model, TrainerConfig(epochs=epochs, batch_size=32,
                                                                    eval_every_batches=11)).fit(Xtr, ytr, Xte, yte)
        print(f"{name:>18s}  {hist.best():8.3f}  {hist.iterations_to_reach(0.95):12.0f}")


if __name__ == "__main__":
    main()
