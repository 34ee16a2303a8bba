"""Cooperator policies (Adeel et al. 2023, "Cooperation Is All You Need", arXiv:2305.10449) and the
attention-neuron baseline (Tang & Ha 2021), with a batched CartPole and three trainers to compare
them: REINFORCE, evolution strategies and recurrent PPO with GAE (Schulman et al. 2017 / 2016).

Sensor ``i`` runs a shared GRU over ``[o_i, a_prev]`` (or ``[o_i(t), o_i(t-1), a_prev]`` with
``previous_obs=True``); the Cooperator integrates the sensors with
two-point units ``y_i = R_i (1 + tanh(R_i C_i))``, ``R_i = W_r h_i``, ``C_i = W_c [mean_{j!=i} h_j;
a_prev]``, ``m = mean_i y_i``; the transformer baseline with learned queries,
``m = tanh(softmax(Q (W_k h)^T / sqrt d) W_v h)``; logits ``= W m + b`` (see
:mod:`neurocircuits.layers.cells._cooperator`).

CartPole (Barto, Sutton & Anderson 1983, with the constants of the classic-control benchmark):

    theta'' = (g sin th - cos th (F + m_p l th'^2 sin th) / M) / (l (4/3 - m_p cos^2 th / M)),
    x''     = (F + m_p l th'^2 sin th) / M - m_p l theta'' cos th / M,        M = m_c + m_p,

Euler steps of 0.02 s, ``F = +-10 N``, reward 1 per step until ``|x| > 2.4`` or ``|th| > 12 deg``
or 200 steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..layers.cells import PermutationInvariantPolicy
from ._registry import register_model


@register_model("cooperator_policy", family="cells",
                paper="Adeel et al. 2023, Cooperation Is All You Need (arXiv:2305.10449)")
def cooperator_policy(n_actions: int = 2, hidden: int = 8, integration: str = "cooperator", width: int = 8,
                      previous_obs: bool = False, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None) -> PermutationInvariantPolicy:
    """Permutation-invariant policy; ``integration="cooperator"`` (two-point units) or ``"attention"``."""
    return PermutationInvariantPolicy(n_actions, hidden, integration, width, previous_obs=previous_obs, device=device,
                                      dtype=dtype)


@dataclass(frozen=True)
class CartPoleConfig:
    """Classic CartPole constants (SI units)."""

    gravity_m_s2: float = 9.8
    cart_mass_kg: float = 1.0
    pole_mass_kg: float = 0.1
    pole_half_length_m: float = 0.5
    force_n: float = 10.0
    dt_s: float = 0.02
    x_limit_m: float = 2.4
    theta_limit_rad: float = 12 * 2 * math.pi / 360
    max_steps: int = 200

    def __post_init__(self) -> None:
        if min(self.cart_mass_kg, self.pole_mass_kg, self.pole_half_length_m, self.dt_s) <= 0 or self.max_steps < 1:
            raise ValueError("CartPole masses, pole length, dt_s and max_steps must be positive.")


def cartpole_step(s: Tensor, action: Tensor, cfg: CartPoleConfig = CartPoleConfig()) -> tuple[Tensor, Tensor]:
    """One Euler step of a batch of CartPoles; ``s`` = ``[x, x', theta, theta']`` ``[batch, 4]``,
    ``action`` in {0, 1} ``[batch]``. Returns ``(next_state, failed [batch] bool)``."""
    x, xd, th, thd = s.unbind(-1)
    force = (action.to(s.dtype) * 2 - 1) * cfg.force_n
    total = cfg.cart_mass_kg + cfg.pole_mass_kg
    ml = cfg.pole_mass_kg * cfg.pole_half_length_m
    cos, sin = torch.cos(th), torch.sin(th)
    temp = (force + ml * thd**2 * sin) / total
    thacc = (cfg.gravity_m_s2 * sin - cos * temp) / (
        cfg.pole_half_length_m * (4.0 / 3.0 - cfg.pole_mass_kg * cos**2 / total))
    xacc = temp - ml * thacc * cos / total
    h = cfg.dt_s
    nxt = torch.stack([x + h * xd, xd + h * xacc, th + h * thd, thd + h * thacc], dim=-1)
    failed = (nxt[:, 0].abs() > cfg.x_limit_m) | (nxt[:, 2].abs() > cfg.theta_limit_rad)
    return nxt, failed


@dataclass
class ReinforceResult:
    """Mean return of every batch of episodes and the episodes used until the target was met."""

    mean_returns: list[float] = field(default_factory=list)
    episodes_to_target: int | None = None


def train_reinforce(policy: PermutationInvariantPolicy, target_return: float = 195.0, max_updates: int = 150,
                    batch: int = 16, lr: float = 0.02, gamma: float = 0.99, seed: int = 0,
                    cfg: CartPoleConfig = CartPoleConfig(), permute: bool = True, entropy_coef: float = 0.01,
                    max_grad_norm: float = 1.0) -> ReinforceResult:
    """REINFORCE with a normalised return baseline on batched CartPole episodes (plus an entropy
    bonus ``entropy_coef`` and gradient-norm clipping at ``max_grad_norm`` against policy collapse).

    The target counts as met when a batch's mean return reaches ``target_return``; episodes are
    counted as ``batch`` per update. With ``permute`` every episode sees its four observation
    elements in a fresh random order (the permutation-invariant setting of Tang & Ha).
    """
    gen = torch.Generator().manual_seed(seed)
    dtype = policy.head.weight.dtype
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    result = ReinforceResult()
    for update in range(max_updates):
        s, order, a_prev, alive = _episode_start(policy, batch, gen, permute)
        state = None
        logps, ents, masks = [], [], []
        for _ in range(cfg.max_steps):
            logits, state = policy(torch.gather(s, 1, order), a_prev, state)
            logp = torch.log_softmax(logits, dim=-1)
            action = torch.multinomial(logp.detach().exp(), 1, generator=gen).squeeze(-1)
            logps.append(logp.gather(1, action[:, None]).squeeze(-1))
            ents.append(-(logp.exp() * logp).sum(-1))
            masks.append(alive.clone())
            s, failed = cartpole_step(s, action, cfg)
            alive = alive & ~failed
            a_prev = torch.nn.functional.one_hot(action, policy.n_actions).to(dtype)
            if not alive.any():
                break
        mask = torch.stack(masks, dim=1).to(dtype)  # [batch, T]: reward 1 for every step taken alive
        returns = mask.sum(dim=1)
        result.mean_returns.append(float(returns.mean()))
        if result.mean_returns[-1] >= target_return:
            result.episodes_to_target = (update + 1) * batch
            break
        disc = torch.zeros_like(mask)
        running = torch.zeros(batch, dtype=dtype)
        for t in range(mask.shape[1] - 1, -1, -1):
            running = mask[:, t] + gamma * running * mask[:, t]
            disc[:, t] = running
        valid = mask > 0
        adv = (disc - disc[valid].mean()) / (disc[valid].std() + 1e-8)
        loss = -((torch.stack(logps, dim=1) * adv + entropy_coef * torch.stack(ents, dim=1)) * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
        opt.step()
    return result


def train_es(policy: PermutationInvariantPolicy, target_return: float = 195.0, generations: int = 100,
             population: int = 32, sigma: float = 0.1, lr: float = 0.03, seed: int = 0,
             cfg: CartPoleConfig = CartPoleConfig(), permute: bool = True) -> ReinforceResult:
    """Evolution strategies (antithetic Gaussian perturbations, centred-rank fitness, Adam ascent),
    the optimiser family Tang & Ha used for these policies. Every candidate plays one CartPole episode
    with greedy actions; the target counts as met when a generation's mean return reaches
    ``target_return`` (episodes counted as ``population`` per generation). The policy's parameters
    are set to the final search centre.
    """
    import warnings

    from torch.func import functional_call, vmap

    if policy.previous_obs:
        raise ValueError("train_es does not carry the previous observation; build the policy with previous_obs=False "
                         "or train it with train_ppo.")
    if population < 2 or population % 2:
        raise ValueError(f"population must be an even number >= 2, got {population}.")
    gen = torch.Generator().manual_seed(seed)
    names = [n for n, _ in policy.named_parameters()]
    shapes = [p.shape for _, p in policy.named_parameters()]
    dtype = policy.head.weight.dtype
    theta = torch.cat([p.detach().reshape(-1) for p in policy.parameters()]).clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)

    def unflatten(t: Tensor) -> dict[str, Tensor]:
        out, i = {}, 0
        for n, s in zip(names, shapes):
            out[n] = t[i: i + s.numel()].view(s)
            i += s.numel()
        return out

    def act(t: Tensor, obs: Tensor, a_prev: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        logits, st = functional_call(policy, unflatten(t), (obs, a_prev, (h,)))
        return logits, st.h

    batched = vmap(act)
    result = ReinforceResult()
    for g in range(generations):
        half = torch.randn(population // 2, theta.numel(), generator=gen, dtype=dtype)
        eps = torch.cat([half, -half])
        thetas = theta.detach() + sigma * eps
        s = (torch.rand(population, 4, generator=gen, dtype=dtype) - 0.5) * 0.1
        order = (torch.stack([torch.randperm(4, generator=gen) for _ in range(population)]) if permute
                 else torch.arange(4).expand(population, 4))
        a_prev = torch.zeros(population, 1, policy.n_actions, dtype=dtype)
        h = torch.zeros(population, 1, 4, policy.hidden, dtype=dtype)
        alive = torch.ones(population, dtype=torch.bool)
        returns = torch.zeros(population, dtype=dtype)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no vmap batching rule for gru_cell: a slower fallback
            for _ in range(cfg.max_steps):
                logits, h = batched(thetas, torch.gather(s, 1, order)[:, None], a_prev, h)
                action = logits[:, 0].argmax(-1)
                returns += alive.to(dtype)
                s, failed = cartpole_step(s, action, cfg)
                alive = alive & ~failed
                a_prev = torch.nn.functional.one_hot(action, policy.n_actions).to(dtype)[:, None]
                if not alive.any():
                    break
        result.mean_returns.append(float(returns.mean()))
        if result.mean_returns[-1] >= target_return:
            result.episodes_to_target = (g + 1) * population
            break
        ranks = torch.empty(population, dtype=dtype)
        ranks[returns.argsort()] = torch.arange(population, dtype=dtype)
        shaped = ranks / (population - 1) - 0.5
        opt.zero_grad()
        theta.grad = -(shaped @ eps) / (population * sigma)
        opt.step()
    with torch.no_grad():
        for p, v in zip(policy.parameters(), unflatten(theta.detach()).values()):
            p.copy_(v)
    return result


def _episode_start(policy: PermutationInvariantPolicy, batch: int, gen: torch.Generator,
                   permute: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Initial CartPole states (uniform in +-0.05), each episode's sensor order (a random permutation when
    ``permute``), the all-zero previous action and the alive mask, for ``batch`` episodes."""
    dtype = policy.head.weight.dtype
    s = (torch.rand(batch, 4, generator=gen, dtype=dtype) - 0.5) * 0.1
    order = (torch.stack([torch.randperm(4, generator=gen) for _ in range(batch)]) if permute
             else torch.arange(4).expand(batch, 4))
    return s, order, torch.zeros(batch, policy.n_actions, dtype=dtype), torch.ones(batch, dtype=torch.bool)


def _rollout(policy: PermutationInvariantPolicy, batch: int, gen: torch.Generator, cfg: CartPoleConfig,
             permute: bool, value_head: torch.nn.Linear) -> dict[str, Tensor]:
    """Play ``batch`` CartPole episodes with sampled actions (no gradients); every tensor is ``[batch, T]``
    (``obs`` ``[batch, T, 4]``, already permuted, ``a_prev`` one-hot ``[batch, T, n_actions]``)."""
    dtype = policy.head.weight.dtype
    s, order, a_prev, alive = _episode_start(policy, batch, gen, permute)
    state = None
    rec: dict[str, list[Tensor]] = {k: [] for k in ("obs", "a_prev", "action", "logp", "value", "mask")}
    with torch.no_grad():
        for _ in range(cfg.max_steps):
            obs = torch.gather(s, 1, order)
            logits, m, state = policy.step(obs, a_prev, state)
            logp = torch.log_softmax(logits, dim=-1)
            action = torch.multinomial(logp.exp(), 1, generator=gen).squeeze(-1)
            for k, v in (("obs", obs), ("a_prev", a_prev), ("action", action), ("mask", alive.clone()),
                         ("logp", logp.gather(1, action[:, None]).squeeze(-1)), ("value", value_head(m).squeeze(-1))):
                rec[k].append(v)
            s, failed = cartpole_step(s, action, cfg)
            alive = alive & ~failed
            a_prev = torch.nn.functional.one_hot(action, policy.n_actions).to(dtype)
            if not alive.any():
                break
    out = {k: torch.stack(v, dim=1) for k, v in rec.items()}
    out["mask"] = out["mask"].to(dtype)
    return out


def gae_advantages(mask: Tensor, values: Tensor, gamma: float, lam: float) -> Tensor:
    """Generalised advantage estimates for reward 1 per step taken (CartPole).

    Args:
        mask: ``[batch, T]``, 1 where the step was taken (the episode was still running), else 0.
        values: ``[batch, T]`` value estimates ``V(s_t)`` in return units.
        gamma, lam: discount and GAE ``lambda``.

    Returns ``A_t = sum_k (gamma lam)^k delta_{t+k}`` with ``delta_t = 1 + gamma V_{t+1} m_{t+1} - V_t``
    (the value after the last step of an episode counts as 0), zero where ``mask`` is 0.
    """
    batch, steps = mask.shape
    adv = torch.zeros_like(mask)
    nxt_adv = torch.zeros(batch, dtype=mask.dtype, device=mask.device)
    for t in range(steps - 1, -1, -1):
        nxt_mask = mask[:, t + 1] if t + 1 < steps else torch.zeros_like(nxt_adv)
        nxt_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(nxt_adv)
        delta = 1.0 + gamma * nxt_value * nxt_mask - values[:, t]
        nxt_adv = (delta + gamma * lam * nxt_mask * nxt_adv) * mask[:, t]
        adv[:, t] = nxt_adv
    return adv


def train_ppo(policy: PermutationInvariantPolicy, target_return: float = 195.0, max_episodes: int = 3000,
              batch: int = 16, epochs: int = 4, lr: float = 3e-3, gamma: float = 0.99, lam: float = 0.95,
              clip: float = 0.2, value_coef: float = 0.5, entropy_coef: float = 0.01, max_grad_norm: float = 0.5,
              window: int = 100, seed: int = 0, cfg: CartPoleConfig = CartPoleConfig(),
              permute: bool = True) -> ReinforceResult:
    """Recurrent PPO (clipped surrogate, GAE advantages, a value head on the policy's latent) on
    batched CartPole episodes (Schulman et al. 2017; Schulman et al. 2016 for GAE).

    Every update plays ``batch`` episodes, then runs ``epochs`` passes of back-propagation through
    time over the whole episodes (the recurrent state is recomputed from the stored observations
    and previous actions). The value head ``Linear(latent, 1)`` is trained on returns scaled by
    ``1 - gamma``; it is not part of the policy's parameters. ``mean_returns`` holds the running
    mean return over the last ``window`` episodes after every update, and the target counts as met
    (``episodes_to_target``) when that mean reaches ``target_return`` (gym's "solved" rule: 195 over
    100 consecutive episodes). With ``permute`` each episode sees the four observation elements in
    a fresh random order.
    """
    if batch < 1 or epochs < 1 or window < 1:
        raise ValueError(f"batch, epochs and window must be >= 1, got {batch}, {epochs}, {window}.")
    gen = torch.Generator().manual_seed(seed)
    dtype = policy.head.weight.dtype
    value_head = torch.nn.Linear(policy.integration.out_features, 1, dtype=dtype, device=policy.head.weight.device)
    params = list(policy.parameters()) + list(value_head.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    scale = 1.0 - gamma
    result = ReinforceResult()
    history: list[float] = []
    episodes = 0
    while episodes < max_episodes:
        ro = _rollout(policy, batch, gen, cfg, permute, value_head)
        episodes += batch
        mask, values = ro["mask"], ro["value"]
        history.extend(mask.sum(dim=1).tolist())
        running = sum(history[-window:]) / len(history[-window:])
        result.mean_returns.append(running)
        if len(history) >= window and running >= target_return:
            result.episodes_to_target = episodes
            break
        steps = mask.shape[1]
        adv = gae_advantages(mask, values / scale, gamma, lam)
        returns = (adv + values / scale) * scale
        valid = mask > 0
        adv = (adv - adv[valid].mean()) / (adv[valid].std() + 1e-8)
        n = mask.sum()
        for _ in range(epochs):
            state = None
            logps, ents, vals = [], [], []
            for t in range(steps):
                logits, m, state = policy.step(ro["obs"][:, t], ro["a_prev"][:, t], state)
                logp = torch.log_softmax(logits, dim=-1)
                logps.append(logp.gather(1, ro["action"][:, t, None]).squeeze(-1))
                ents.append(-(logp.exp() * logp).sum(-1))
                vals.append(value_head(m).squeeze(-1))
            ratio = torch.exp(torch.stack(logps, dim=1) - ro["logp"])
            surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
            value_loss = (torch.stack(vals, dim=1) - returns) ** 2
            loss = (-(surrogate + entropy_coef * torch.stack(ents, dim=1)) + value_coef * value_loss) * mask
            opt.zero_grad()
            (loss.sum() / n).backward()
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            opt.step()
    return result
