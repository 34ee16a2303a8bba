"""AKOrN with a *learned* coupling that binds objects, trained by counting (no masks).

Artificial Kuramoto Oscillatory Neurons (Miyato, Loewe, Geiger & Welling, ICLR 2025) bind features
into objects by synchrony; the paper learns the coupling. This module is a small trainable version
for binary images, written from the paper's equations, not from its code:

    c     = E(image)                                     (conv encoder -> conditional stimulus)
    (Jx)_i = m_i sum_{d in k x k} K_d m_{i+d} x_{i+d}     (learned local coupling, K_d = K_{-d})
    x_i  <- normalize(x_i + gamma P_{x_i}(c_i + (Jx)_i)), P_x(y) = y - <y, x> x

with one unit-vector oscillator ``x_i`` in R^n per pixel, ``m`` the input intensity (the coupling
between two pixels is scaled by both intensities: a multiplicative stimulus) and ``n_steps``
unrolled updates from random oscillators. ``J`` acts as ``K (x) I_n``: it commutes with a common
rotation of all oscillators, so the dynamics are rotation-equivariant (and translation-equivariant
through the convolution). For ``n = 2`` one update is the Kuramoto step
``theta_i <- theta_i + arctan(gamma sum_j K_ij m_i m_j sin(theta_j - theta_i))`` (with ``c = 0``).

Training objective (a proxy task; the object masks are never used): the number of objects is read
out from the synchrony of the foreground oscillators with the soft cluster count

    N_hat = sum_i m_i / sum_j m_j exp(beta (<x_i, x_j> - 1))

(each pixel contributes the inverse of the mass synchronised with it; ``k`` tight, well separated
clusters give exactly ``k``), and the loss is ``(log N_hat - log N)^2`` with ``N`` the image's
object count. Evaluation clusters the final oscillators of the foreground pixels (k-means) and
compares the clusters with the true object masks (adjusted Rand index).

Two restrictions against the paper's general ``J`` (a full channel-mixing convolution), both found
necessary by experiment (see docs/readme/memory_learning_dynamics.md, known limits): with a full
matrix coupling the count objective did not bind (the coupling and the stimulus collapsed onto one
direction, ``J ~ a v v^T``, aligning whole images), and an encoder whose receptive field covers a
shape tells objects apart by their shape instead of synchronising them (the same ARI with zero
coupling); hence the isotropic ``K (x) I`` coupling and a pointwise (1x1) encoder by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...functional.maps import check_finite
from ...functional.oscillators import akorn_step
from ..hooks import HookPoint
from ._kuramoto import AKOrNState

__all__ = [
    "BindingAKOrNConfig",
    "BindingAKOrN",
    "soft_cluster_count",
    "train_binding_akorn",
    "binding_ari",
]


@dataclass(frozen=True)
class BindingAKOrNConfig:
    """Configuration of :class:`BindingAKOrN`.

    Attributes:
        osc_dim: dimension ``n`` of each pixel's oscillator (``n >= 3`` avoids vortex defects).
        hidden: hidden channels of the encoder.
        encoder_kernel: kernel size of the encoder's first convolution (1: pointwise stimulus).
        kernel_size: size of the learned coupling kernel ``K`` (odd; 3 couples the 8 neighbours).
        n_steps: unrolled Kuramoto updates.
        gamma: step size of an update.
        beta: sharpness of the synchrony kernel of the count readout.
        coupling_init_std: standard deviation of the random initial coupling kernel (0: start at zero).
        stimulus_init_scale: scale of the encoder's output layer at initialisation.
    """

    osc_dim: int = 4
    hidden: int = 16
    encoder_kernel: int = 1
    kernel_size: int = 3
    n_steps: int = 40
    gamma: float = 0.5
    beta: float = 8.0
    coupling_init_std: float = 0.03
    stimulus_init_scale: float = 0.1

    def __post_init__(self) -> None:
        if self.osc_dim < 2 or self.hidden < 1:
            raise ValueError(f"need osc_dim >= 2 and hidden >= 1, got {self.osc_dim} and {self.hidden}.")
        if self.kernel_size % 2 == 0 or self.encoder_kernel % 2 == 0:
            raise ValueError(
                f"kernel_size ({self.kernel_size}) and encoder_kernel ({self.encoder_kernel}) must be odd "
                "to keep the image size."
            )
        if self.n_steps < 1 or self.gamma <= 0 or self.beta <= 0:
            raise ValueError(
                f"need n_steps >= 1, gamma > 0 and beta > 0, got {self.n_steps}, {self.gamma}, {self.beta}."
            )
        if self.coupling_init_std < 0 or self.stimulus_init_scale < 0:
            raise ValueError("coupling_init_std and stimulus_init_scale must be >= 0.")


def soft_cluster_count(x: Tensor, weight: Tensor, beta: float) -> Tensor:
    """Soft number of synchronised clusters ``sum_i w_i / sum_j w_j exp(beta (<x_i, x_j> - 1))``.

    Args:
        x: unit oscillators ``(batch, n, H, W)`` (or ``(batch, n, P)``).
        weight: non-negative pixel weights ``(batch, H, W)`` (or ``(batch, P)``), e.g. the image.
        beta: kernel sharpness; ``k`` tight clusters at mutual cosine ``<= rho`` give ``k`` up to
            terms of order ``exp(-beta (1 - rho))``.

    Returns:
        ``(batch,)`` counts.
    """
    xf, w = x.flatten(2), weight.flatten(1).to(x)
    sim = torch.exp(beta * (torch.einsum("bdi,bdj->bij", xf, xf) - 1.0))
    mass = (sim * w[:, None, :]).sum(-1).clamp_min(1e-12)
    return (w / mass).sum(-1)


class BindingAKOrN(nn.Module):
    """Trainable AKOrN for object binding: ``forward(images, state=None) -> (x_T, AKOrNState, energies)``.

    Input images ``(batch, H, W)`` with intensities in [0, 1]. Hook point ``hook_osc`` sees the
    oscillators after every update.
    """

    def __init__(self, cfg: BindingAKOrNConfig | None = None, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or BindingAKOrNConfig()
        kw = {"device": device, "dtype": dtype}
        self.encoder = nn.Sequential(
            nn.Conv2d(1, cfg.hidden, cfg.encoder_kernel, padding=cfg.encoder_kernel // 2, **kw),
            nn.ReLU(),
            nn.Conv2d(cfg.hidden, cfg.osc_dim, 1, **kw),
        )
        with torch.no_grad():
            self.encoder[2].weight.mul_(cfg.stimulus_init_scale)
            self.encoder[2].bias.zero_()
        self.coupling_raw = nn.Parameter(cfg.coupling_init_std * torch.randn(cfg.kernel_size, cfg.kernel_size, **kw))
        self.hook_osc = HookPoint()

    @property
    def coupling_kernel(self) -> Tensor:
        """The symmetric coupling kernel ``K`` (``K_d = K_{-d}``, so ``J`` is symmetric), ``(k, k)``."""
        return 0.5 * (self.coupling_raw + self.coupling_raw.flip(0, 1))

    def stimulus(self, images: Tensor) -> Tensor:
        """Conditional stimulus ``c = E(image)``, ``(batch, osc_dim, H, W)``."""
        return self.encoder(images.unsqueeze(1))

    def coupling(self, x: Tensor, m: Tensor, kernel: Tensor | None = None) -> Tensor:
        """``(Jx)_i = m_i sum_d K_d m_{i+d} x_{i+d}`` for oscillators ``(batch, n, H, W)``, intensities ``(batch, H, W)``."""
        k = self.coupling_kernel if kernel is None else kernel
        b, n, h, w = x.shape
        mx = (x * m.unsqueeze(1)).reshape(b * n, 1, h, w)
        out = F.conv2d(mx, k.reshape(1, 1, *k.shape).to(x), padding=k.shape[-1] // 2)
        return out.reshape(b, n, h, w) * m.unsqueeze(1)

    def initial_state(self, images: Tensor, generator: torch.Generator | None = None) -> AKOrNState:
        """Independent random oscillators, uniform on the sphere, one per pixel."""
        b, h, w = images.shape
        x = torch.randn(b, self.cfg.osc_dim, h, w, generator=generator, dtype=torch.float64)
        return AKOrNState((x / x.norm(dim=1, keepdim=True)).to(device=images.device, dtype=self._dtype()))

    def _dtype(self) -> torch.dtype:
        return self.coupling_raw.dtype

    def run(self, x: Tensor, c: Tensor, m: Tensor, kernel: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Unroll the updates from oscillators ``x`` under stimulus ``c`` and intensities ``m``.

        Returns:
            ``(x_T, energies)`` with ``energies`` of shape ``(n_steps, batch)``.
        """
        energies = []
        for _ in range(self.cfg.n_steps):
            x, e = akorn_step(x, self.coupling(x, m, kernel), c, None, self.cfg.gamma, dim=1)
            x = self.hook_osc(x)
            energies.append(e)
        check_finite(x, self.cfg.n_steps, "BindingAKOrN", self.cfg)
        return x, torch.stack(energies)

    def forward(self, images: Tensor, state: AKOrNState | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, AKOrNState, Tensor]:
        """Run the binding dynamics on ``images`` ``(batch, H, W)`` from ``state`` (random if ``None``)."""
        if images.dim() != 3:
            raise ValueError(
                f"BindingAKOrN expects images of shape (batch, H, W), got {tuple(images.shape)}; "
                "add a batch axis with images[None] for a single image."
            )
        images = images.to(self._dtype())
        x0 = (state or self.initial_state(images, generator)).x
        if x0.shape != (images.shape[0], self.cfg.osc_dim, *images.shape[1:]):
            raise ValueError(
                f"state.x has shape {tuple(x0.shape)}, expected {(images.shape[0], self.cfg.osc_dim, *images.shape[1:])}."
            )
        x, energies = self.run(x0, self.stimulus(images), images)
        return x, AKOrNState(x), energies

    def count(self, x: Tensor, images: Tensor) -> Tensor:
        """Object count read out from the synchrony of the oscillators (:func:`soft_cluster_count`)."""
        return soft_cluster_count(x, images, self.cfg.beta)

    def example_input(self, batch: int) -> Tensor:
        img = torch.zeros(batch, 12, 12, dtype=self._dtype(), device=self.coupling_raw.device)
        img[:, 2:5, 2:5] = 1.0
        img[:, 7:10, 6:10] = 1.0
        return img

    def bad_example_input(self, batch: int) -> Tensor:
        """Images with a channel axis (``(batch, 1, H, W)``), which the model refuses."""
        return self.example_input(batch).unsqueeze(1)


def train_binding_akorn(
    model: BindingAKOrN,
    images: Tensor,
    counts: Tensor,
    n_iters: int = 300,
    batch_size: int = 32,
    lr_coupling: float = 3e-2,
    lr_encoder: float = 1e-3,
    freeze_coupling: bool = False,
    seed: int = 0,
    progress: bool = True,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` to count the objects of ``images`` from oscillator synchrony (Adam, log-count loss).

    Args:
        model: the network; trained in place.
        images: ``(N, H, W)`` training images.
        counts: ``(N,)`` number of objects per image (an image-level label; no masks).
        n_iters: optimisation steps on random mini-batches.
        batch_size: images per step.
        lr_coupling: Adam learning rate of the coupling kernel.
        lr_encoder: Adam learning rate of the stimulus encoder.
        freeze_coupling: keep ``K`` at its initial value (control: only the stimulus learns).
        seed: seed of the batch order and of the random initial oscillators.
        progress: show a tqdm bar.
        callback: called as ``callback(step, loss)`` after each step.

    Returns:
        The loss after each step.
    """
    from tqdm.auto import tqdm

    if images.dim() != 3 or counts.shape != images.shape[:1]:
        raise ValueError(
            f"need images (N, H, W) and counts (N,), got {tuple(images.shape)} and {tuple(counts.shape)}."
        )
    if bool((counts < 1).any()):
        raise ValueError("every image needs at least one object (counts >= 1): the loss uses log(count).")
    model.coupling_raw.requires_grad_(not freeze_coupling)
    groups = [{"params": list(model.encoder.parameters()), "lr": lr_encoder}]
    if not freeze_coupling:
        groups.append({"params": [model.coupling_raw], "lr": lr_coupling})
    opt = torch.optim.Adam(groups)
    gen = torch.Generator().manual_seed(seed)
    images = images.to(model._dtype())
    log_counts = counts.to(images).log()
    losses: list[float] = []
    for step in tqdm(range(n_iters), disable=not progress, desc="BindingAKOrN"):
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=gen)
        x, _, _ = model(images[idx], generator=gen)
        loss = ((model.count(x, images[idx]).log() - log_counts[idx]) ** 2).mean()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"BindingAKOrN loss became {loss.item()} at step {step}; lower lr_coupling.")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])
    return losses


@torch.no_grad()
def binding_ari(model: BindingAKOrN, images: Tensor, masks: Tensor, seed: int = 0) -> np.ndarray:
    """Adjusted Rand index between k-means clusters of the final oscillators and the object masks.

    Only foreground pixels are scored; ``k`` is the true number of objects of each image.

    Returns:
        ``(N,)`` ARIs.
    """
    from sklearn.metrics import adjusted_rand_score

    from ._binding import cluster_oscillators

    gen = torch.Generator().manual_seed(seed)
    x, _, _ = model(images.to(model._dtype()), generator=gen)
    out = []
    for i in range(images.shape[0]):
        k = int(masks[i].max())
        labels = cluster_oscillators(x[i].double().cpu(), images[i].cpu(), k, seed=seed)
        fg = masks[i].cpu().numpy() > 0
        out.append(adjusted_rand_score(masks[i].cpu().numpy()[fg], labels[fg]))
    return np.asarray(out)
