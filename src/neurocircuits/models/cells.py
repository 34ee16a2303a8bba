"""Continuous-time cell models: LTC, CfC and their Neural Circuit Policy (NCP) wired versions.

Papers: Hasani et al., "Liquid Time-constant Networks", AAAI 2021 (LTC); Hasani et al.,
"Closed-form continuous-time neural networks", Nat. Mach. Intell. 2022 (CfC); Lechner et al.,
"Neural circuit policies enabling auditable autonomy", Nat. Mach. Intell. 2020 (NCP).

LTC: ``C dv/dt = g_leak (E_leak - v) + sum_i w_i s(sigma_i (v_i - mu_i)) (E_i - v)``, solved by the
fused semi-implicit step ``v <- (C/dt' v + g_leak E_leak + sum g E) / (C/dt' + g_leak + sum g)``.
CfC: ``h' = tanh(f1(z)) (1 - s) + s tanh(f2(z))``, ``s = sigmoid(t_a(z) dt + t_b(z))``.
Every model maps ``[batch, time, in_features] -> ([batch, time, out], state)``.
"""

from __future__ import annotations

import torch

from ..layers.cells import BDH, ELM, LTC, CfC, ContractiveRNNAssembly, FastWeightLayer, WaveRNN, auto_ncp, ncp
from ._registry import register_model

_LTC = "Hasani et al. 2021, Liquid Time-constant Networks (AAAI)"
_CFC = "Hasani et al. 2022, Closed-form continuous-time neural networks (Nat. Mach. Intell.)"
_NCP = "Lechner et al. 2020, Neural circuit policies enabling auditable autonomy (Nat. Mach. Intell.)"


@register_model("ltc", family="cells", paper=_LTC)
def ltc(in_features: int = 2, units: int = 8, solver: str = "semi_implicit", unfolds: int = 6,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None, **kw) -> LTC:
    """Fully connected LTC with ``units`` neurons, all of them outputs."""
    return LTC(in_features, units, solver=solver, unfolds=unfolds, device=device, dtype=dtype, **kw)


@register_model("ncp_ltc", family="cells", paper=f"{_LTC}; {_NCP}")
def ncp_ltc(in_features: int = 2, inter: int = 6, command: int = 4, motor: int = 1, solver: str = "semi_implicit",
            unfolds: int = 6, seed: int = 22222, sensory_fanout: int | None = None, inter_fanout: int | None = None,
            recurrent_command_synapses: int | None = None, motor_fanin: int | None = None,
            device: torch.device | str | None = None, dtype: torch.dtype | None = None, **kw) -> LTC:
    """LTC neurons wired as an NCP (sensory -> inter -> command -> motor); outputs are the motors."""
    wiring = ncp(in_features, inter, command, motor, sensory_fanout, inter_fanout, recurrent_command_synapses,
                 motor_fanin, seed=seed)
    return LTC(in_features, wiring, solver=solver, unfolds=unfolds, device=device, dtype=dtype, **kw)


@register_model("auto_ncp_ltc", family="cells", paper=f"{_LTC}; {_NCP}")
def auto_ncp_ltc(in_features: int = 2, units: int = 16, output_size: int = 1, sparsity: float = 0.5,
                 seed: int = 22222, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 **kw) -> LTC:
    """LTC over an NCP sized from the total unit count (ncps' ``AutoNCP(units, output_size)``)."""
    return LTC(in_features, auto_ncp(in_features, units, output_size, sparsity, seed), device=device, dtype=dtype, **kw)


@register_model("cfc", family="cells", paper=_CFC)
def cfc(in_features: int = 2, units: int = 8, mode: str = "default", backbone_units: int = 32,
        backbone_layers: int = 1, proj_size: int | None = None, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None, **kw) -> CfC:
    """Closed-form continuous-time cell with a backbone MLP."""
    return CfC(in_features, units, mode=mode, backbone_units=backbone_units, backbone_layers=backbone_layers,
               proj_size=proj_size, device=device, dtype=dtype, **kw)


@register_model("ncp_cfc", family="cells", paper=f"{_CFC}; {_NCP}")
def ncp_cfc(in_features: int = 2, inter: int = 6, command: int = 4, motor: int = 1, mode: str = "default",
            seed: int = 22222, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
            **kw) -> CfC:
    """CfC whose heads are masked by an NCP wiring (no backbone); outputs are the motor units."""
    return CfC(in_features, ncp(in_features, inter, command, motor, seed=seed), mode=mode, backbone_layers=0,
               device=device, dtype=dtype, **kw)


_FWP = "Schlag, Irie & Schmidhuber 2021, Linear Transformers Are Secretly Fast Weight Programmers (ICML)"


@register_model("fast_weights", family="cells", paper=_FWP)
def fast_weights(in_features: int = 4, d_key: int = 16, d_value: int = 16, out_features: int | None = None,
                 rule: str = "delta", feature_map: str = "elu1", normalize: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> FastWeightLayer:
    """Fast weight programmer: a linear slow net writes a [d_value, d_key] fast weight matrix
    (``rule="delta"``: ``W += beta (v - W k) k^T``; ``"additive"``: ``W += v k^T`` = linear attention)."""
    return FastWeightLayer(in_features, d_key, d_value, out_features, rule, feature_map, normalize,
                           device=device, dtype=dtype)


_ROR = "Kozachkov, Ennis & Slotine 2022, RNNs of RNNs: Recursive Construction of Stable Assemblies of RNNs (NeurIPS)"


@register_model("rnns_of_rnns", family="cells", paper=_ROR)
def rnns_of_rnns(in_features: int = 8, module_sizes: tuple[int, ...] = (8, 8, 8, 8), out_features: int = 10,
                 gamma: float = 0.9, tau: float = 1.0, dt: float = 0.25, steps_per_input: int = 4, seed: int = 0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 **kw) -> ContractiveRNNAssembly:
    """Contracting tanh-RNN modules (``||W_i|| <= gamma``) with skew-symmetric negative-feedback coupling."""
    return ContractiveRNNAssembly(in_features, tuple(module_sizes), out_features, gamma, tau, dt,
                                  steps_per_input=steps_per_input, seed=seed, device=device, dtype=dtype, **kw)


_WRNN = "Keller & Welling 2024, Traveling Waves Encode the Recent Past and Enhance Sequence Learning (ICLR)"


@register_model("wave_rnn", family="cells", paper=_WRNN)
def wave_rnn(in_features: int = 2, n: int = 16, channels: int = 2, out_features: int = 1, kernel_size: int = 3,
             device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> WaveRNN:
    """wRNN: ``h_t = relu(u * h_{t-1} + V x_t + b)`` with a shift-initialised circular convolution ``u``."""
    return WaveRNN(in_features, n, channels, out_features, kernel_size, device=device, dtype=dtype)


_ELM = "Spieler et al. 2024, The Expressive Leaky Memory Neuron (ICLR)"


@register_model("elm", family="cells", paper=_ELM)
def elm(in_features: int = 2, out_features: int = 1, d_memory: int = 16, d_mlp: int = 32, layers: int = 1,
        tau_min: float = 1.0, tau_max: float = 100.0, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None) -> ELM:
    """Expressive Leaky Memory neuron(s): memory with learnable timescales, MLP synaptic integration."""
    return ELM(in_features, out_features, d_memory, d_mlp, layers, tau_min, tau_max, device=device, dtype=dtype)


_BDH = "Kosowski et al. 2025, The Dragon Hatchling: The Missing Link between the Transformer and Models of the Brain"


@register_model("bdh", family="cells", paper=_BDH)
def bdh(vocab: int = 32, d: int = 32, n: int = 256, layers: int = 2, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None) -> BDH:
    """Tiny BDH language model (sparse positive neurons, Hebbian linear-attention state, shared layers)."""
    return BDH(vocab, d, n, layers, device=device, dtype=dtype)
