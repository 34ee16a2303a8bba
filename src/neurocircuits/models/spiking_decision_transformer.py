"""Spiking decision transformer for offline RL (after the Spiking Decision Transformer, SNN-DT;
Decision Transformer: Chen et al. 2021), with a self-contained CartPole.

Each timestep is one token built from the return-to-go, the state and the previous action,

    e_t = W_e [R_t / R_max, s_t, onehot(a_{t-1})] + p_t

and a causal transformer block predicts ``a_t`` from tokens ``<= t`` (cross-entropy on logged
actions). The ANN variant uses softmax attention and a GELU MLP; the spiking variant direct-codes
``e_t`` over ``T`` steps, passes LIF neurons, causal spiking self-attention
(``SN((Q K^T * M) V)``, no softmax) and a spiking MLP, and reads the action logits from the mean
over steps. Not implemented from the paper: three-factor plasticity, phase-coded positions and
dendritic routing.

CartPole (Barto, Sutton & Anderson 1983; the classic-control equations): state
``(x, x_dot, theta, theta_dot)``, force +-10 N, dt = 0.02 s, failure at ``|x| > 2.4`` or
``|theta| > 12 deg``, reward 1 per step, at most 200 steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..layers.hooks import HookPoint
from ..layers.spiking import SpikingMLPBlock, SpikingSelfAttention, make_neuron, seq_apply
from ._registry import register_model


class CartPole:
    """Minimal CartPole with the classic-control dynamics (Euler, dt = 0.02 s)."""

    g, m_cart, m_pole, half_len, force, dt = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    x_limit, theta_limit, max_steps = 2.4, 12 * 2 * math.pi / 360, 200

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.state = np.zeros(4)
        self.t = 0

    def reset(self) -> np.ndarray:
        self.state = self.rng.uniform(-0.05, 0.05, 4)
        self.t = 0
        return self.state.copy()

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        x, x_dot, th, th_dot = self.state
        f = self.force if action == 1 else -self.force
        total = self.m_cart + self.m_pole
        pml = self.m_pole * self.half_len
        tmp = (f + pml * th_dot**2 * math.sin(th)) / total
        th_acc = (self.g * math.sin(th) - math.cos(th) * tmp) / (self.half_len * (4 / 3 - self.m_pole * math.cos(th) ** 2 / total))
        x_acc = tmp - pml * th_acc * math.cos(th) / total
        self.state = np.array([x + self.dt * x_dot, x_dot + self.dt * x_acc, th + self.dt * th_dot, th_dot + self.dt * th_acc])
        self.t += 1
        done = abs(self.state[0]) > self.x_limit or abs(self.state[2]) > self.theta_limit or self.t >= self.max_steps
        return self.state.copy(), 1.0, done


def collect_offline_data(episodes: int = 60, noise: float = 0.3, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Episodes of a noisy PD controller (random action with probability ``noise``): mixed-quality data."""
    env, rng = CartPole(seed), np.random.default_rng(seed + 1)
    data = []
    for ep in range(episodes):
        eps = noise * (ep % 3) / 2  # three quality levels
        s, done, S, A = env.reset(), False, [], []
        while not done:
            a = int(s[2] + 0.5 * s[3] + 0.05 * s[1] > 0) if rng.random() > eps else int(rng.integers(2))
            S.append(s)
            A.append(a)
            s, _, done = env.step(a)
        rewards = np.ones(len(A))
        data.append({"states": np.array(S), "actions": np.array(A), "rtg": np.cumsum(rewards[::-1])[::-1].copy()})
    return data


def make_windows(data: list[dict[str, np.ndarray]], context: int = 10, r_max: float = 200.0) -> tuple[Tensor, Tensor]:
    """All length-``context`` windows (zero-padded at episode starts): tokens ``(n, K, 7)`` and actions ``(n, K)``."""
    X, Y = [], []
    for ep in data:
        n = len(ep["actions"])
        prev = np.concatenate([[0], ep["actions"][:-1]])
        feats = np.concatenate([ep["rtg"][:, None] / r_max, ep["states"], np.eye(2)[prev] * (np.arange(n) > 0)[:, None]], 1)
        for t in range(n):
            lo = max(0, t - context + 1)
            w = np.zeros((context, feats.shape[1]))
            y = np.full(context, -100)
            w[context - (t - lo + 1):] = feats[lo:t + 1]
            y[context - (t - lo + 1):] = ep["actions"][lo:t + 1]
            X.append(w)
            Y.append(y)
    return torch.tensor(np.array(X), dtype=torch.float32), torch.tensor(np.array(Y), dtype=torch.long)


class DecisionTransformer(nn.Module):
    """One-block causal decision transformer; ``spiking=True`` gives the SNN-DT variant."""

    def __init__(self, token_dim: int = 7, context: int = 10, dim: int = 32, heads: int = 2, n_actions: int = 2,
                 spiking: bool = False, time_steps: int = 4, neuron: str = "lif", device=None, dtype=None, **neuron_kw: Any) -> None:
        super().__init__()
        self.spiking, self.time_steps, self.context = spiking, time_steps, context
        self.embed = nn.Linear(token_dim, dim)
        self.pos = nn.Parameter(torch.zeros(context, dim))
        if spiking:
            self.embed_sn = make_neuron(neuron, (context, dim), **neuron_kw)
            self.attn = SpikingSelfAttention(dim, context, heads, neuron, causal=True, **neuron_kw)
            self.mlp = SpikingMLPBlock(dim, context, 2 * dim, neuron, **neuron_kw)
        else:
            self.attn_ann = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.mlp_ann = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, n_actions)
        self.hook_resid = HookPoint()
        self.to(device=device, dtype=dtype)

    def forward(self, tokens: Tensor, state: None = None) -> tuple[Tensor, None]:
        """``tokens (batch, K, token_dim)`` -> action logits ``(batch, K, n_actions)``."""
        if tokens.dim() != 3 or tokens.shape[1:] != (self.context, self.embed.in_features):
            raise ValueError(
                f"expected tokens (batch, {self.context}, {self.embed.in_features}) [rtg, state, previous action], "
                f"got {tuple(tokens.shape)}; pad shorter histories with zeros at the front."
            )
        e = self.embed(tokens) + self.pos
        K = tokens.shape[1]
        if not self.spiking:
            mask = torch.ones(K, K, dtype=torch.bool, device=e.device).triu(1)
            h = self.ln1(e)
            x = e + self.attn_ann(h, h, h, attn_mask=mask, need_weights=False)[0]
            x = self.hook_resid(x + self.mlp_ann(self.ln2(x)))
            return self.head(x), None
        seq = e.unsqueeze(0).expand(self.time_steps, *e.shape)
        z, _ = self.embed_sn(seq)
        a, _ = self.attn(z)
        z = z + a
        m, _ = self.mlp(z)
        z = self.hook_resid(z + m)
        return seq_apply(self.head, z).mean(0), None

    def example_input(self, batch: int) -> Tensor:
        """Random valid token windows (zoo smoke-test protocol)."""
        return torch.randn(batch, self.context, self.embed.in_features, dtype=self.pos.dtype, device=self.pos.device)

    @torch.no_grad()
    def act(self, history: Tensor) -> int:
        """Greedy action for the last token of a ``(K, token_dim)`` history window."""
        return int(self(history.unsqueeze(0))[0][0, -1].argmax())


def evaluate_policy(model: DecisionTransformer, episodes: int = 10, target_return: float = 200.0, r_max: float = 200.0,
                    seed: int = 100) -> tuple[float, float]:
    """Mean return over ``episodes`` and, for the spiking variant, mean spikes emitted per decision."""
    from ..layers.hooks import cache_activations, hook_points

    env = CartPole(seed)
    K = model.context
    names = [n for n in hook_points(model) if n.endswith("hook_spikes")]
    returns, spikes, decisions = [], 0.0, 0
    model.eval()
    for _ in range(episodes):
        s, done, total, rtg, prev = env.reset(), False, 0.0, target_return, None
        window = torch.zeros(K, 7)
        while not done:
            tok = torch.tensor(np.concatenate([[rtg / r_max], s, np.eye(2)[prev] if prev is not None else [0, 0]]), dtype=torch.float32)
            window = torch.cat([window[1:], tok[None]])
            with cache_activations(model, names) as cache:
                a = model.act(window)
            spikes += sum(float(v.sum()) for v in cache.values())
            decisions += 1
            s, r, done = env.step(a)
            total += r
            rtg -= r
            prev = a
        returns.append(total)
    return float(np.mean(returns)), spikes / max(decisions, 1)


@register_model("spiking_decision_transformer", family="spiking", paper="Chen et al. 2021 (Decision Transformer); SNN-DT")
def spiking_decision_transformer(**cfg: Any) -> DecisionTransformer:
    return DecisionTransformer(**{"spiking": True, **cfg})
