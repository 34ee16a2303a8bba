"""Hand-built transformers whose circuit is known by construction (ground truth for discovery).

Following the "compiled transformer" idea (Lindner et al. 2023, "Tracr"; Elhage et al. 2021 for the
induction mechanism), the weights are written down rather than trained. The residual stream of
:func:`induction_model` is a direct sum of named subspaces::

    T  (d_vocab)  one-hot current token            written by the embedding
    P  (n_ctx)    one-hot position                 written by the embedding
    C  (1)        constant 1                       written by the embedding
    T' (d_vocab)  one-hot PREVIOUS token           written by the previous-token head a0.h{prev}
    O  (d_vocab)  one-hot predicted next token     written by the induction head a1.h{ind}
    D  (4)        scratch space of the distractors

Previous-token head (layer 0): score(p, j) = beta [j = p - 1] from P (query) and P shifted by one
(key); value/output copy T -> T'. Induction head (layer 1): score(p, j) = beta [T'_j = T_p], the
key reading T' (K-composition with the previous-token head); value/output copy T -> O scaled by
gamma; the unembedding reads O only, so logit_t = gamma * A[p, j*] [token_{j*} = t].

Distractors: a layer-0 head that always attends to BOS (position 0) and a layer-1 head with uniform
attention; both write small random vectors (scale ``distractor_scale``) into D and O, so they touch
the logits a little but carry no induction information. With ``d_mlp > 0`` each layer also gets a
distractor MLP (ReLU units reading T and C, writing small random vectors into D and O). There is no
normalisation, so everything is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..data.tasks import InductionTask, PromptPairs
from ..graph import CircuitGraph
from .transformer import HookedTransformer, TransformerConfig

__all__ = ["HandBuiltCircuit", "induction_model", "ABLATION_SIGNALS"]

# Which information each planted edge carries, and the ablations that remove that information
# (an ablation that leaves the edge's signal unchanged cannot detect the edge):
#   "token":       the tokens of the earlier occurrence (differ between clean and corrupt prompts)
#   "query_token": the last token (identical in clean and corrupt prompts; differs under resampling)
#   "position":    positional information (identical across prompts; removed only by zero ablation)
ABLATION_SIGNALS: dict[str, tuple[str, ...]] = {
    "corrupt": ("token",),
    "resample": ("token", "query_token"),
    "mean": ("token", "query_token"),  # a per-position mean keeps positions
    "zero": ("token", "query_token", "position"),
}


@dataclass(frozen=True)
class HandBuiltCircuit:
    """A hand-built model, the task it solves and its ground-truth circuit.

    Attributes:
        model: the :class:`HookedTransformer` with planted weights.
        circuit: the edges the mechanism uses, a subgraph of ``model.computation_graph()``; each
            edge has ``attrs["signal"]`` in ``{"token", "query_token", "position"}``.
        task: the :class:`~neurocircuits.data.tasks.InductionTask` matching the model's vocabulary.
        heads: role of each head, e.g. ``{"a0.h0": "previous_token", "a1.h1": "induction", ...}``.
    """

    model: HookedTransformer
    circuit: CircuitGraph
    task: InductionTask
    heads: dict[str, str]

    def detectable_circuit(self, ablation: str = "corrupt") -> CircuitGraph:
        """The planted edges whose signal ``ablation`` removes (the ones patching can find with it)."""
        if ablation not in ABLATION_SIGNALS:
            raise ValueError(f"unknown ablation {ablation!r}; valid ablations: {sorted(ABLATION_SIGNALS)}.")
        signals = ABLATION_SIGNALS[ablation]
        return self.circuit.filter_edges(lambda e: e.attrs.get("signal") in signals, prune_nodes=True)

    def pairs(self, n: int, seed: int = 0) -> PromptPairs:
        return self.task.make_pairs(n, seed)


def induction_model(
    d_vocab: int = 32,
    seq_len: int = 20,
    prev_head: int = 0,
    induction_head: int = 1,
    n_heads: int = 2,
    beta: float = 20.0,
    gamma: float = 10.0,
    distractor_scale: float = 0.3,
    d_mlp: int = 0,
    seed: int = 0,
    device: Any = None,
    dtype: Any = None,
) -> HandBuiltCircuit:
    """A 2-layer attention-only transformer with a planted previous-token -> induction-head circuit.

    Args:
        d_vocab: vocabulary size (token 0 is BOS), as in :class:`InductionTask`.
        seq_len: context length (``n_ctx``), as in :class:`InductionTask`.
        prev_head: index of the previous-token head in layer 0.
        induction_head: index of the induction head in layer 1.
        n_heads: heads per layer (>= 2); the other heads are distractors.
        beta: attention sharpness of the planted heads (logit of the attended position).
        gamma: logit written for the predicted token.
        distractor_scale: size of the distractors' random writes.
        d_mlp: when > 0, add an MLP to both layers as a distractor: ReLU units reading the current
            token (T) and the constant (C) through random weights and writing small random vectors
            into D and O (never into T, P or T', which the planted heads read).
        seed: seed of the distractors' random writes.

    Returns:
        A :class:`HandBuiltCircuit` with the model, its ground-truth circuit and the matching task.
    """
    if n_heads < 2:
        raise ValueError(f"n_heads must be >= 2 (a planted head and a distractor per layer), got {n_heads}.")
    for name, h in (("prev_head", prev_head), ("induction_head", induction_head)):
        if not 0 <= h < n_heads:
            raise ValueError(f"{name}={h} must be a head index in [0, {n_heads - 1}].")
    V, N, n_d = d_vocab, seq_len, 4
    T, P, C = 0, V, V + N
    Tp = C + 1
    O = Tp + V
    D = O + V
    d_model = D + n_d
    d_head = max(V, N + 1)
    if d_mlp < 0:
        raise ValueError(f"d_mlp must be >= 0 (0 = attention-only), got {d_mlp}.")
    cfg = TransformerConfig(n_layers=2, n_heads=n_heads, d_model=d_model, d_head=d_head, d_mlp=d_mlp, n_ctx=N,
                            d_vocab=V, normalization=None, act="relu", attn_bias=False, mlp_bias=False,
                            unembed_bias=False)
    model = HookedTransformer(cfg, device=device, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    q_scale = beta * math.sqrt(d_head)
    eye_v = torch.eye(V)

    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        W_E = torch.zeros(V, d_model)
        W_E[:, T:T + V] = eye_v
        W_E[:, C] = 1.0
        W_pos = torch.zeros(N, d_model)
        W_pos[:, P:P + N] = torch.eye(N)
        W_U = torch.zeros(d_model, V)
        W_U[O:O + V] = eye_v
        model.W_E.copy_(W_E)
        model.W_pos.copy_(W_pos)
        model.W_U.copy_(W_U)

        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        # previous-token head: query e_p from P_p, key e_{j+1} from P_j; copy T -> T'
        for pos in range(N):
            a0.W_Q[prev_head, P + pos, pos] = q_scale
            a0.W_K[prev_head, P + pos, pos + 1] = 1.0
        a0.W_V[prev_head, T:T + V, :V] = eye_v
        a0.W_O[prev_head, :V, Tp:Tp + V] = eye_v
        # induction head: query e_t from T, key e_t from T'; copy T -> O (gamma)
        a1.W_Q[induction_head, T:T + V, :V] = eye_v * q_scale
        a1.W_K[induction_head, Tp:Tp + V, :V] = eye_v
        a1.W_V[induction_head, T:T + V, :V] = eye_v
        a1.W_O[induction_head, :V, O:O + V] = eye_v * gamma

        roles = {f"a0.h{prev_head}": "previous_token", f"a1.h{induction_head}": "induction"}
        for h in range(n_heads):
            if h != prev_head:  # layer-0 distractor: attends to BOS, writes small noise into D and O
                a0.W_Q[h, C, 0] = q_scale
                a0.W_K[h, P + 0, 0] = 1.0
                a0.W_V[h, T:T + V, :V] = eye_v
                a0.W_O[h, :V, D:D + n_d] = torch.randn(V, n_d, generator=gen) * distractor_scale
                a0.W_O[h, :V, O:O + V] = torch.randn(V, V, generator=gen) * distractor_scale * 0.1
                roles[f"a0.h{h}"] = "distractor_bos"
            if h != induction_head:  # layer-1 distractor: uniform attention, small random writes into O
                a1.W_V[h, T:T + V, :V] = eye_v
                a1.W_V[h, D:D + n_d, V - n_d:V] = torch.eye(n_d)
                a1.W_O[h, :V, O:O + V] = torch.randn(V, V, generator=gen) * distractor_scale * 0.1
                roles[f"a1.h{h}"] = "distractor_uniform"
        for block in model.blocks if d_mlp > 0 else []:  # MLP distractors: read T and C, write into D and O
            mlp = block.mlp
            mlp.W_in[T:T + V] = torch.randn(V, d_mlp, generator=gen)
            mlp.W_in[C] = 0.5
            mlp.W_out[:, D:D + n_d] = torch.randn(d_mlp, n_d, generator=gen) * distractor_scale
            mlp.W_out[:, O:O + V] = torch.randn(d_mlp, V, generator=gen) * distractor_scale * 0.05

    full = model.computation_graph()
    planted = {
        ("embed", f"a0.h{prev_head}.q", "q"): "position",
        ("embed", f"a0.h{prev_head}.k", "k"): "position",
        ("embed", f"a0.h{prev_head}.v", "v"): "token",
        (f"a0.h{prev_head}", f"a1.h{induction_head}.k", "k"): "token",
        ("embed", f"a1.h{induction_head}.q", "q"): "query_token",
        ("embed", f"a1.h{induction_head}.v", "v"): "token",
        (f"a1.h{induction_head}", "logits", "resid"): "token",
    }
    edges = []
    for edge in full.edges:
        signal = planted.get((edge.source, edge.target, edge.kind))
        if signal is not None:
            edges.append(type(edge)(edge.source, edge.target, edge.kind, attrs={"signal": signal}))
    if len(edges) != len(planted):
        raise RuntimeError("internal error: a planted edge is missing from the computation graph.")
    used = {e.source for e in edges} | {e.target for e in edges}
    circuit = CircuitGraph([n for n in full.nodes if n.name in used], edges, name="induction-ground-truth",
                           attrs={"model": "handbuilt-induction", "roles": roles})
    return HandBuiltCircuit(model=model.eval(), circuit=circuit, task=InductionTask(d_vocab=V, seq_len=N), heads=roles)
