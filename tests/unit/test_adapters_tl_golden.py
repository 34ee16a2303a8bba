"""TransformerLens interop without TransformerLens installed: golden files from scripts/make_tl_golden.py.

A tiny TransformerLens HookedTransformer's weights are loaded into the neurocircuits transformer by
``convert_tl_state_dict``; the logits and activations must equal what TransformerLens (through the
TLAdapter) produced, and EAP / exact edge patching on the converted model must equal auto-circuit's
scores on the TransformerLens model (same pairs, corrupt ablation, logit difference).
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from neurocircuits import discover
from neurocircuits.data.tasks import PromptPairs
from neurocircuits.layers.hooks import cache_activations
from neurocircuits.models.adapters.transformer_lens import TLAdapterError, convert_tl_state_dict, transformer_from_tl_weights

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture(scope="module")
def golden():
    with safe_open(str(GOLDEN / "tl_tiny.safetensors"), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        cfg = json.loads(f.metadata()["tl_cfg"])
    sd = {k[3:]: v for k, v in tensors.items() if k.startswith("sd.")}
    scores = json.loads((GOLDEN / "tl_tiny_scores.json").read_text())
    return tensors, sd, cfg, scores


def test_converted_weights_reproduce_transformer_lens_logits_and_activations(golden):
    tensors, sd, cfg, _ = golden
    model = transformer_from_tl_weights(sd, cfg)
    with torch.no_grad(), cache_activations(model, ["blocks.1.attn.hook_result", "blocks.1.attn.hook_q_input", "hook_embed"]) as cache:
        logits = model(tensors["clean"])
    torch.testing.assert_close(logits, tensors["logits"], rtol=1e-5, atol=1e-5)
    for name in ("blocks.1.attn.hook_result", "blocks.1.attn.hook_q_input", "hook_embed"):
        torch.testing.assert_close(cache[name][:2], tensors[f"act.{name}"], rtol=1e-5, atol=1e-5)


def _pairs(tensors):
    return PromptPairs(tensors["clean"], tensors["corrupt"], tensors["answer"], tensors["wrong"])


def _our_scores(model, pairs, method):
    engine = discover.PatchEngine(model, pairs, metric="logit_diff", ablation="corrupt", progress=False)
    out = discover.METHODS.get(method)(engine)
    return {e.key[:3]: float(s) for e, s in zip(engine.index.edges, out.scores[:, 0])}


def test_exact_edge_patching_equals_auto_circuit(golden):
    tensors, sd, cfg, scores = golden
    ours = _our_scores(transformer_from_tl_weights(sd, cfg), _pairs(tensors), "edge_patching")
    theirs = {(s, t, k): v for s, t, k, v in scores["exact"]}
    assert set(ours) == set(theirs) and len(theirs) == 46
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=2e-5), key


def test_eap_equals_auto_circuit_up_to_its_sign_convention(golden):
    tensors, sd, cfg, scores = golden
    ours = _our_scores(transformer_from_tl_weights(sd, cfg), _pairs(tensors), "eap")
    theirs = {(s, t, k): v for s, t, k, v in scores["eap"]}
    assert set(ours) == set(theirs)
    # auto-circuit scores d(-logit_diff)/d(mask); ours is the first-order change of logit_diff
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(-value, abs=2e-5), key


def test_converter_rejects_unsupported_configs(golden):
    _, sd, cfg, _ = golden
    with pytest.raises(TLAdapterError, match="normalization_type"):
        convert_tl_state_dict(sd, {**cfg, "normalization_type": "RMS"})
    with pytest.raises(TLAdapterError, match="lacks"):
        convert_tl_state_dict({k: v for k, v in sd.items() if "W_Q" not in k}, cfg)
