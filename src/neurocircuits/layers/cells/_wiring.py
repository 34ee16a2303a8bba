"""Sparse wirings for recurrent cells: fully connected, random, and Neural Circuit Policies (NCP).

Neural Circuit Policies (Lechner, Hasani, Amini, Henzinger, Rus, Grosu, Nature Machine Intelligence
2020, "Neural circuit policies enabling auditable autonomy") wire a recurrent population in four
layers inspired by the C. elegans tap-withdrawal circuit:

    sensory (inputs) -> inter -> command (with recurrent command synapses) -> motor (outputs).

Each layer projects to a fixed number of random targets in the next (fan-out), neurons left without
input are given the mean fan-in, every synapse gets a random polarity (+1 excitatory, -1
inhibitory). A :class:`Wiring` is plain data (two signed adjacency matrices) usable by any cell: the
LTC uses it as its synapse mask and initial reversal potentials, the CfC masks its recurrent
weights with it. ``to_circuit_graph()`` exports it as a :class:`~neurocircuits.graph.CircuitGraph`.

Neuron order inside the population: motor neurons first (so the cell's outputs are units
``0..motor-1``), then command, then inter neurons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...graph import CircuitGraph
from ...registry import Registry

WIRINGS: Registry = Registry("wiring")


@dataclass(frozen=True, eq=False)
class Wiring:
    """Signed sparse connectivity of a recurrent population.

    Attributes:
        adjacency: ``[units, units]`` int array, ``adjacency[pre, post]`` in {-1, 0, +1}.
        sensory_adjacency: ``[in_features, units]`` int array in {-1, 0, +1}.
        output_size: number of motor (output) neurons; they are units ``0..output_size-1``.
        groups: neuron-type name -> list of unit indices (e.g. ``{"motor": [0], "command": [1, 2]}``).
    """

    adjacency: np.ndarray
    sensory_adjacency: np.ndarray
    output_size: int
    groups: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        a, s = np.asarray(self.adjacency), np.asarray(self.sensory_adjacency)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"adjacency must be a square [units, units] matrix, got shape {a.shape}.")
        if s.ndim != 2 or s.shape[1] != a.shape[0]:
            raise ValueError(
                f"sensory_adjacency must have shape [in_features, {a.shape[0]}], got {s.shape}."
            )
        if not (np.isin(a, (-1, 0, 1)).all() and np.isin(s, (-1, 0, 1)).all()):
            raise ValueError("adjacency entries must be -1 (inhibitory), 0 (none) or +1 (excitatory).")
        if not 1 <= self.output_size <= a.shape[0]:
            raise ValueError(f"output_size must be in [1, {a.shape[0]}], got {self.output_size}.")
        object.__setattr__(self, "adjacency", a.astype(np.int8))
        object.__setattr__(self, "sensory_adjacency", s.astype(np.int8))

    @property
    def units(self) -> int:
        return int(self.adjacency.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.sensory_adjacency.shape[0])

    @property
    def synapse_count(self) -> int:
        return int(np.abs(self.adjacency).sum())

    @property
    def sensory_synapse_count(self) -> int:
        return int(np.abs(self.sensory_adjacency).sum())

    def neuron_type(self, unit: int) -> str:
        for name, members in self.groups.items():
            if unit in members:
                return name
        return "motor" if unit < self.output_size else "hidden"

    def to_circuit_graph(self, name: str = "wiring") -> CircuitGraph:
        """Export as a CircuitGraph: nodes ``s{i}`` (sensory) and ``n{j}`` (units, kind = neuron
        type), chemical edges with ``sign`` and ``weight`` = polarity."""
        g = CircuitGraph(name=name)
        for i in range(self.in_features):
            g.add_node(f"s{i}", kind="sensory")
        for j in range(self.units):
            g.add_node(f"n{j}", kind=self.neuron_type(j), unit=j)
        for (src, dst) in zip(*np.nonzero(self.sensory_adjacency)):
            pol = int(self.sensory_adjacency[src, dst])
            g.add_edge(f"s{src}", f"n{dst}", kind="chemical", weight=float(pol), sign=pol)
        for (src, dst) in zip(*np.nonzero(self.adjacency)):
            pol = int(self.adjacency[src, dst])
            g.add_edge(f"n{src}", f"n{dst}", kind="chemical", weight=float(pol), sign=pol)
        return g

    @staticmethod
    def from_circuit_graph(graph: CircuitGraph, output_size: int) -> Wiring:
        """Inverse of :meth:`to_circuit_graph` (nodes named ``s{i}`` and ``n{j}``)."""
        sens = sorted(int(n.name[1:]) for n in graph.nodes if n.name.startswith("s"))
        units = sorted(int(n.name[1:]) for n in graph.nodes if n.name.startswith("n"))
        a = np.zeros((len(units), len(units)), dtype=np.int8)
        s = np.zeros((len(sens), len(units)), dtype=np.int8)
        groups: dict[str, list[int]] = {}
        for n in graph.nodes:
            if n.name.startswith("n"):
                groups.setdefault(n.kind, []).append(int(n.name[1:]))
        for e in graph.edges:
            sign = int(e.sign or 1)
            target = a if e.source.startswith("n") else s
            target[int(e.source[1:]), int(e.target[1:])] = sign
        return Wiring(a, s, output_size, {k: sorted(v) for k, v in groups.items()})


def _polarity(rng: np.random.Generator, n: int, p_excitatory: float) -> np.ndarray:
    return np.where(rng.random(n) < p_excitatory, 1, -1)


@WIRINGS.register("fully_connected")
def fully_connected(in_features: int, units: int, output_size: int | None = None, self_connections: bool = True,
                    p_excitatory: float = 2 / 3, seed: int = 1111) -> Wiring:
    """All-to-all wiring with random polarities (2/3 excitatory by default)."""
    if in_features < 1 or units < 1:
        raise ValueError(f"in_features and units must be >= 1, got {in_features} and {units}.")
    rng = np.random.default_rng(seed)
    a = _polarity(rng, units * units, p_excitatory).reshape(units, units)
    if not self_connections:
        np.fill_diagonal(a, 0)
    s = _polarity(rng, in_features * units, p_excitatory).reshape(in_features, units)
    out = units if output_size is None else output_size
    return Wiring(a, s, out, {"motor": list(range(out)), "hidden": list(range(out, units))})


@WIRINGS.register("random")
def random_wiring(in_features: int, units: int, output_size: int | None = None, sparsity: float = 0.5,
                  p_excitatory: float = 2 / 3, seed: int = 1111) -> Wiring:
    """Erdos-Renyi wiring: each synapse exists with probability ``1 - sparsity``."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}.")
    rng = np.random.default_rng(seed)
    keep = rng.random((units, units)) >= sparsity
    a = keep * _polarity(rng, units * units, p_excitatory).reshape(units, units)
    keep_s = rng.random((in_features, units)) >= sparsity
    s = keep_s * _polarity(rng, in_features * units, p_excitatory).reshape(in_features, units)
    out = units if output_size is None else output_size
    return Wiring(a, s, out, {"motor": list(range(out)), "hidden": list(range(out, units))})


@WIRINGS.register("ncp")
def ncp(in_features: int, inter: int, command: int, motor: int, sensory_fanout: int | None = None,
        inter_fanout: int | None = None, recurrent_command_synapses: int | None = None,
        motor_fanin: int | None = None, seed: int = 22222) -> Wiring:
    """Neural Circuit Policy wiring (four layers, see module docstring).

    Fan-outs default to half of the next layer (the density-0.5 choice of the NCP paper's auto
    configuration); ``recurrent_command_synapses`` defaults to ``command``.
    """
    for name, n in (("in_features", in_features), ("inter", inter), ("command", command), ("motor", motor)):
        if n < 1:
            raise ValueError(f"NCP needs at least one {name} neuron, got {name}={n}.")
    sensory_fanout = max(inter // 2, 1) if sensory_fanout is None else sensory_fanout
    inter_fanout = max(command // 2, 1) if inter_fanout is None else inter_fanout
    recurrent_command_synapses = command if recurrent_command_synapses is None else recurrent_command_synapses
    motor_fanin = max(command // 2, 1) if motor_fanin is None else motor_fanin
    if not 1 <= sensory_fanout <= inter:
        raise ValueError(f"sensory_fanout must be in [1, inter={inter}], got {sensory_fanout}.")
    if not 1 <= inter_fanout <= command:
        raise ValueError(f"inter_fanout must be in [1, command={command}], got {inter_fanout}.")
    if not 1 <= motor_fanin <= command:
        raise ValueError(f"motor_fanin must be in [1, command={command}], got {motor_fanin}.")
    units = motor + command + inter
    motors = list(range(motor))
    commands = list(range(motor, motor + command))
    inters = list(range(motor + command, units))
    rng = np.random.default_rng(seed)
    a = np.zeros((units, units), dtype=np.int8)
    s = np.zeros((in_features, units), dtype=np.int8)

    def sign() -> int:
        return 1 if rng.random() < 0.5 else -1

    def layer(src_ids: list[int], dst_ids: list[int], fanout: int, mat: np.ndarray, src_offset: int = 0) -> None:
        reached: set[int] = set()
        for src in src_ids:
            for dst in rng.choice(dst_ids, size=fanout, replace=False):
                mat[src - src_offset, dst] = sign()
                reached.add(int(dst))
        fanin = int(np.clip(len(src_ids) * fanout // len(dst_ids), 1, len(src_ids)))
        for dst in dst_ids:
            if dst not in reached:
                for src in rng.choice(src_ids, size=fanin, replace=False):
                    mat[src - src_offset, dst] = sign()

    layer(list(range(in_features)), inters, sensory_fanout, s)
    layer(inters, commands, inter_fanout, a)
    for _ in range(recurrent_command_synapses):
        a[rng.choice(commands), rng.choice(commands)] = sign()
    # command -> motor by fan-in; commands left without a motor target get the mean fan-out
    used: set[int] = set()
    for dst in motors:
        for src in rng.choice(commands, size=motor_fanin, replace=False):
            a[src, dst] = sign()
            used.add(int(src))
    fanout = int(np.clip(motor * motor_fanin // command, 1, motor))
    for src in commands:
        if src not in used:
            for dst in rng.choice(motors, size=fanout, replace=False):
                a[src, dst] = sign()
    return Wiring(a, s, motor, {"motor": motors, "command": commands, "inter": inters})


@WIRINGS.register("auto_ncp")
def auto_ncp(in_features: int, units: int, output_size: int, sparsity: float = 0.5, seed: int = 22222) -> Wiring:
    """NCP sized from a total unit count: 40% of the non-motor units are command neurons."""
    if output_size >= units - 2:
        raise ValueError(f"output_size must be < units - 2 (got units={units}, output_size={output_size}).")
    if not 0.1 <= sparsity <= 0.9:
        raise ValueError(f"sparsity must be in [0.1, 0.9], got {sparsity}.")
    density = 1.0 - sparsity
    rest = units - output_size
    command = max(int(0.4 * rest), 1)
    inter = rest - command
    return ncp(
        in_features, inter, command, output_size,
        sensory_fanout=max(int(inter * density), 1),
        inter_fanout=max(int(command * density), 1),
        recurrent_command_synapses=max(int(command * density * 2), 1),
        motor_fanin=max(int(command * density), 1),
        seed=seed,
    )
