"""A seeded synthetic connectome the size of the Drosophila larva brain (no data needed).

The larva brain connectome (Winding et al. 2023, "The connectome of an insect brain", Science
379:eadd9330) has 3,016 neurons and 548,000 synapses, 12 sensory modalities feeding a highly
recurrent brain with "abundant feedback from descending neurons"; it is the graph the BPU
(connectome-as-network) work builds on, but it is not shipped by any installable package, so this
module generates a stand-in with the same size and the same sensory / inter / output layout.

Model (a directed, degree-corrected stochastic block model):

    blocks    b(i) in {S_1..S_M (one per sensory modality), I (inter), O (output)}
    theta_out_i, theta_in_i ~ LogNormal(0, degree_sigma)          (hubs: heavy-tailed degrees)
    q_ij      = B[class(b(i)), class(b(j))] * theta_out_i * theta_in_j,   q_ii = 0
    edges     = exactly ``n_edges`` pairs drawn without replacement with probability
                proportional to q (Gumbel top-k), so the edge count is exact
    count_ij  = max(1, round(LogNormal(mu, synapse_sigma))), mu set so that the mean count is
                ``n_synapses / n_edges`` (548,000 / 65,000 = 8.4 by default)
    sign_i    = +1 for sensory and output neurons; inter neurons are inhibitory (-1) with
                probability ``inhibitory_fraction``; every edge carries its presynaptic sign (Dale)

``B`` (class-to-class relative density, rows presynaptic) is feed-forward biased
(sensory -> inter -> output) with recurrence inside the inter group and feedback from output and
inter neurons; sensory neurons of one modality additionally project preferentially onto a
modality-specific subset of inter neurons (``modality_bias``), so ablating a modality removes
information a read-out depends on. What is matched to the larva: the neuron and synapse counts,
the number of sensory modalities (12), heavy-tailed degrees and synapse counts, recurrent
architecture with feedback from output neurons. The edge count (65,000), the group sizes
(``n_sensory``, ``n_output``), the inhibitory fraction and ``B`` are choices of this generator,
not measured larva statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...graph import CircuitGraph

LARVA_MODALITIES = (
    "olfactory", "gustatory_external", "gustatory_pharyngeal", "enteric", "thermo_warm", "thermo_cold",
    "visual", "nociceptive", "mechano_chordotonal", "mechano_class_iii", "proprioceptive", "respiratory",
)
"""Twelve sensory modality labels, after the larva's sensory neuron types (Winding et al. 2023)."""

_CLASS_INDEX = {"sensory": 0, "inter": 1, "output": 2}
_DEFAULT_DENSITY = (
    # post:  sensory inter output       (pre = row)
    (0.05, 1.00, 0.10),   # sensory: feed forward onto inter neurons
    (0.20, 1.00, 1.00),   # inter: recurrent, onto output, some presynaptic feedback onto sensory axons
    (0.05, 0.60, 0.60),   # output: feedback into the brain ("abundant feedback from descending neurons")
)


@dataclass(frozen=True)
class LarvaLikeConfig:
    """Parameters of :func:`larva_like_connectome` (defaults: larva-brain size)."""

    n_neurons: int = 3016
    n_edges: int = 65000
    n_synapses: int = 548000
    n_sensory: int = 480
    n_output: int = 180
    modalities: tuple[str, ...] = LARVA_MODALITIES
    inhibitory_fraction: float = 0.3
    degree_sigma: float = 1.0
    synapse_sigma: float = 1.0
    modality_bias: float = 4.0
    density: tuple[tuple[float, float, float], ...] = field(default=_DEFAULT_DENSITY)

    def __post_init__(self) -> None:
        if self.n_sensory < len(self.modalities):
            raise ValueError(f"n_sensory ({self.n_sensory}) must be >= the number of modalities "
                             f"({len(self.modalities)}) so every modality has a neuron.")
        if self.n_output < 1 or self.n_sensory + self.n_output >= self.n_neurons:
            raise ValueError(f"need n_output >= 1 and n_sensory + n_output < n_neurons (some inter neurons); got "
                             f"n_sensory={self.n_sensory}, n_output={self.n_output}, n_neurons={self.n_neurons}.")
        if not 0 < self.n_edges < self.n_neurons * (self.n_neurons - 1):
            raise ValueError(f"n_edges must be in (0, n_neurons * (n_neurons - 1)), got {self.n_edges}.")
        if self.n_synapses < self.n_edges:
            raise ValueError(f"n_synapses ({self.n_synapses}) must be >= n_edges ({self.n_edges}): every edge has "
                             f">= 1 synapse.")
        if not 0 <= self.inhibitory_fraction <= 1:
            raise ValueError(f"inhibitory_fraction must be in [0, 1], got {self.inhibitory_fraction}.")
        for name in ("degree_sigma", "synapse_sigma"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        if self.modality_bias < 1:
            raise ValueError(f"modality_bias must be >= 1 (1 = no modality preference), got {self.modality_bias}.")
        d = np.asarray(self.density, dtype=float)
        if d.shape != (3, 3) or (d < 0).any() or not (d > 0).any():
            raise ValueError("density must be a 3 x 3 table of non-negative numbers (rows/columns: sensory, inter, "
                             f"output), not all zero; got {self.density}.")


def larva_like_connectome(seed: int = 0, config: LarvaLikeConfig | None = None, **overrides: object) -> CircuitGraph:
    """A synthetic larva-brain-sized signed connectome (see the module docstring for the model).

    Args:
        seed: random seed; the same seed and config give the same graph.
        config: a :class:`LarvaLikeConfig`; keyword ``overrides`` replace its fields.

    Returns:
        A CircuitGraph with nodes ``S<modality>_<k>``, ``I<k>``, ``O<k>`` (attrs ``cell_class`` in
        ``sensory`` / ``inter`` / ``output``, ``modality`` for sensory neurons, ``sign``,
        ``neurotransmitter``) and ``n_edges`` chemical edges with ``weight`` = synapse count and
        ``sign`` = the presynaptic neuron's sign.

    Example:
        >>> g = larva_like_connectome(seed=0, n_neurons=300, n_edges=3000, n_synapses=20000, n_sensory=48, n_output=20)
        >>> g.n_nodes, g.n_edges
        (300, 3000)
    """
    if config is None:
        config = LarvaLikeConfig(**overrides)  # type: ignore[arg-type]
    elif overrides:
        config = LarvaLikeConfig(**{**config.__dict__, **overrides})  # type: ignore[arg-type]
    cfg = config
    rng = np.random.default_rng(seed)
    n, n_mod = cfg.n_neurons, len(cfg.modalities)
    n_inter = n - cfg.n_sensory - cfg.n_output
    cls = np.array([0] * cfg.n_sensory + [1] * n_inter + [2] * cfg.n_output)
    modality = np.full(n, -1)
    modality[: cfg.n_sensory] = np.arange(cfg.n_sensory) % n_mod
    # inter neurons that prefer one modality (the first ~half of the inter group, round-robin)
    inter_idx = np.arange(cfg.n_sensory, cfg.n_sensory + n_inter)
    preferred = np.full(n, -1)
    preferred[inter_idx[: n_inter // 2]] = np.arange(n_inter // 2) % n_mod

    theta_out = rng.lognormal(0.0, cfg.degree_sigma, n)
    theta_in = rng.lognormal(0.0, cfg.degree_sigma, n)
    dens = np.asarray(cfg.density, dtype=float)
    q = dens[cls[:, None], cls[None, :]] * theta_out[:, None] * theta_in[None, :]
    same = (modality[:, None] >= 0) & (modality[:, None] == preferred[None, :])
    q = np.where(same, q * cfg.modality_bias, q)
    np.fill_diagonal(q, 0.0)
    flat = q.ravel()
    support = np.flatnonzero(flat > 0)
    if len(support) < cfg.n_edges:
        raise ValueError(f"only {len(support)} neuron pairs have non-zero density; lower n_edges ({cfg.n_edges}).")
    # Gumbel top-k: an exact-size sample without replacement, probabilities proportional to q
    keys = np.log(flat[support]) + rng.gumbel(size=len(support))
    chosen = support[np.argpartition(-keys, cfg.n_edges - 1)[: cfg.n_edges]]
    chosen.sort()
    pre, post = np.divmod(chosen, n)

    mean_count = cfg.n_synapses / cfg.n_edges
    mu = np.log(mean_count) - cfg.synapse_sigma ** 2 / 2
    counts = np.maximum(1, np.rint(rng.lognormal(mu, cfg.synapse_sigma, cfg.n_edges)))

    sign = np.ones(n, dtype=int)
    sign[inter_idx] = np.where(rng.random(n_inter) < cfg.inhibitory_fraction, -1, 1)

    names = []
    per_mod = [0] * n_mod
    for i in range(n):
        if cls[i] == 0:
            m = int(modality[i])
            names.append(f"S{cfg.modalities[m]}_{per_mod[m]}")
            per_mod[m] += 1
        elif cls[i] == 1:
            names.append(f"I{i - cfg.n_sensory}")
        else:
            names.append(f"O{i - cfg.n_sensory - n_inter}")
    g = CircuitGraph(name=f"synthetic/larva_like_seed{seed}", attrs={
        "species": "synthetic (Drosophila larva brain size)", "seed": seed,
        "paper": "size matched to Winding et al. 2023, The connectome of an insect brain, Science 379:eadd9330",
        "generator": "neurocircuits.data.connectomes.larva_like_connectome",
    })
    class_names = {v: k for k, v in _CLASS_INDEX.items()}
    for i, name in enumerate(names):
        attrs: dict[str, object] = {"cell_class": class_names[int(cls[i])], "sign": int(sign[i]),
                                    "neurotransmitter": "GABA" if sign[i] < 0 else "acetylcholine"}
        if modality[i] >= 0:
            attrs["modality"] = cfg.modalities[int(modality[i])]
        g.add_node(name, kind="neuron", **attrs)
    for i, j, c in zip(pre.tolist(), post.tolist(), counts.tolist()):
        g.add_edge(names[i], names[j], kind="chemical", weight=float(c), sign=int(sign[i]))
    return g
