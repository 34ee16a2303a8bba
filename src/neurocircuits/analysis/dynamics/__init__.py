"""Dynamics analysis: fixed points, bifurcation sweeps, Lyapunov exponents, chaos tests, entropy,
synchrony and reservoir memory capacity."""

from ._bifurcation import bifurcation_sweep as bifurcation_sweep
from ._bifurcation import detect_period as detect_period
from ._chaos import sample_entropy as sample_entropy
from ._chaos import zero_one_test as zero_one_test
from ._fixed_points import FIXED_POINT_SOLVERS as FIXED_POINT_SOLVERS
from ._fixed_points import FixedPoint as FixedPoint
from ._fixed_points import find_fixed_points as find_fixed_points
from ._fixed_points import jacobian_eigenvalues as jacobian_eigenvalues
from ._lyapunov import largest_lyapunov as largest_lyapunov
from ._memory_capacity import memory_capacity as memory_capacity
from ._synchrony import cross_correlation as cross_correlation
from ._synchrony import kuramoto_order as kuramoto_order
from ._synchrony import phases_from_signal as phases_from_signal
from ._synchrony import synchrony_chi as synchrony_chi
