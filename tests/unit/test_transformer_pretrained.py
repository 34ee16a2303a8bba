"""The shipped task models: load offline, perform their task on held-out pairs, and show the known heads."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.data.tasks import get_task
from neurocircuits.models.pretrained import (
    UnknownCheckpointError, list_pretrained, load_pretrained, pretrained_metadata,
)

HELD_OUT_SEED = 4242  # training used seeds 0..N (one per step); the generator's seed space is disjoint here


def _eval(name: str, n: int = 400):
    model = load_pretrained(name)
    task = get_task(pretrained_metadata(name)["task"])
    pairs = task.make_pairs(n, seed=HELD_OUT_SEED)
    idx = torch.arange(n)
    with torch.no_grad():
        clean = model(pairs.clean)
        corrupt = model(pairs.corrupt)
    ld = lambda l: l[idx, -1, pairs.answer] - l[idx, -1, pairs.wrong]  # noqa: E731
    return model, task, pairs, clean, ld(clean), ld(corrupt)


def test_lists_shipped_checkpoints_and_unknown_name_error() -> None:
    assert {"induction", "ioi", "greater_than", "docstring"} <= set(list_pretrained())
    with pytest.raises(UnknownCheckpointError, match="Available checkpoints: docstring, greater_than, induction, ioi"):
        load_pretrained("inductoin")
    meta = pretrained_metadata("induction")
    assert meta["config"]["n_layers"] == 2 and meta["config"]["n_heads"] == 2
    assert meta["held_out"]["accuracy"] > 0.9


def test_induction_model_accuracy_and_separation() -> None:
    model, task, pairs, clean, ld_clean, ld_corrupt = _eval("induction")
    acc = float(task.correct(clean, pairs).float().mean())
    assert acc > 0.9
    assert float(ld_clean.mean()) > 5.0 and abs(float(ld_corrupt.mean())) < 1.0
    # clearly separated: the 5th percentile of clean exceeds the 95th percentile of corrupt
    assert float(ld_clean.quantile(0.05)) > float(ld_corrupt.quantile(0.95))


def test_induction_model_has_previous_token_and_induction_heads() -> None:
    model = load_pretrained("induction")
    task = get_task("induction")
    pairs = task.make_pairs(300, seed=HELD_OUT_SEED + 1)
    _, cache = model.run_with_cache(pairs.clean, names=["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"])
    p0, p1 = cache["blocks.0.attn.hook_pattern"], cache["blocks.1.attn.hook_pattern"]
    # previous-token score: mean attention from position p to p - 1 (p >= 1)
    prev_score = p0.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))  # (head,)
    # induction score: attention from the last position to the token after the earlier occurrence
    clean = pairs.clean
    target = torch.stack([(row[:-1] == row[-1]).nonzero()[0, 0] + 1 for row in clean])
    ind_score = p1[torch.arange(len(clean)), :, -1, :].gather(-1, target[:, None, None].expand(-1, p1.shape[1], 1))
    ind_score = ind_score.squeeze(-1).mean(0)  # (head,)
    assert float(prev_score.max()) > 0.8, prev_score
    assert float(ind_score.max()) > 0.8, ind_score


@pytest.mark.parametrize("name, min_acc", [("ioi", 0.9), ("docstring", 0.9), ("greater_than", 0.9)])
def test_each_task_model_performs_its_task(name: str, min_acc: float) -> None:
    _, task, pairs, clean, ld_clean, ld_corrupt = _eval(name)
    acc = float(task.correct(clean, pairs).float().mean())
    assert acc > min_acc, acc
    assert float(ld_clean.mean()) > float(ld_corrupt.mean()) + 1.0
    if name == "greater_than":
        assert float(task.prob_diff(clean, pairs).mean()) > 0.8


def test_checkpoints_are_small() -> None:
    from importlib import resources
    for name in list_pretrained():
        with resources.as_file(resources.files("neurocircuits.models.checkpoints") / f"{name}.safetensors") as path:
            size = path.stat().st_size
        assert size < 500_000, (name, size)


def test_induction_model_ablations_follow_the_mechanism() -> None:
    """Zeroing the previous-token head (best layer-0 score) or the layer-1 heads breaks induction."""
    from neurocircuits.layers.hooks import hooks

    model = load_pretrained("induction")
    task = get_task("induction")
    pairs = task.make_pairs(300, seed=HELD_OUT_SEED + 2)
    _, cache = model.run_with_cache(pairs.clean, names=["blocks.0.attn.hook_pattern"])
    prev_head = int(cache["blocks.0.attn.hook_pattern"].diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2)).argmax())

    def zero(heads: list[int]):
        def fn(x: torch.Tensor, hook: object) -> torch.Tensor:
            x = x.clone()
            x[:, :, heads] = 0
            return x
        return fn

    def accuracy(fwd: dict) -> float:
        with torch.no_grad(), hooks(model, fwd):
            return float(task.correct(model(pairs.clean), pairs).float().mean())

    assert accuracy({}) > 0.95
    assert accuracy({"blocks.0.attn.hook_result": zero([prev_head])}) < 0.5
    assert accuracy({"blocks.1.attn.hook_result": zero([0, 1])}) < 0.2


def _training_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "train_task_models.py"
    spec = importlib.util.spec_from_file_location("train_task_models", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_training_script_writes_a_loadable_checkpoint(tmp_path) -> None:
    from neurocircuits.models.transformer import HookedTransformer, load_with_metadata

    script = _training_script()
    result = script.train("ioi", steps=5, out_dir=tmp_path)
    assert set(result) >= {"accuracy", "logit_diff_clean", "logit_diff_corrupt", "loss"}
    model, meta = load_with_metadata(tmp_path / "ioi.safetensors")
    assert isinstance(model, HookedTransformer)
    assert meta["task"] == "ioi" and meta["training"]["steps"] == 5 and meta["config"]["n_heads"] == 2
    assert not (tmp_path / "ioi.safetensors.tmp").exists()


@pytest.mark.slow
def test_training_reproduces_the_induction_model(tmp_path) -> None:
    """The full training schedule (a few CPU minutes) gives a model that solves induction again."""
    script = _training_script()
    result = script.train("induction", out_dir=tmp_path)
    assert result["accuracy"] > 0.95 and result["logit_diff_clean"] > 5 > abs(result["logit_diff_corrupt"])
