"""Alternative units: KAN layers (B-spline edges), symbolic primitives, and more."""

from ._bspline import adaptive_grid as adaptive_grid
from ._bspline import bspline_basis as bspline_basis
from ._bspline import curve_to_coef as curve_to_coef
from ._bspline import extend_grid as extend_grid
from ._bspline import uniform_grid as uniform_grid
from ._kan import KAN as KAN
from ._kan import KANLayer as KANLayer
from ._symbolic import SYMBOLIC_LIB as SYMBOLIC_LIB
from ._symbolic import Primitive as Primitive
from ._symbolic import SymbolicFit as SymbolicFit
from ._symbolic import fit_primitive as fit_primitive
from ._symbolic import suggest_symbolic as suggest_symbolic
from ._dendrites import ActiveDendriteNeuron as ActiveDendriteNeuron
from ._dendrites import random_sdrs as random_sdrs
from ._dendrites import sdr_false_match_prob as sdr_false_match_prob
from ._arithmetic import NAU as NAU
from ._arithmetic import NMU as NMU
from ._neurons import APTxLinear as APTxLinear
from ._neurons import QuadraticLinear as QuadraticLinear
from ._neurons import relinear_param_groups as relinear_param_groups
from ._activations import HeLU as HeLU
from ._activations import RationalActivation as RationalActivation
from ._activations import PadeLinear as PadeLinear
from ._precortical import PrecorticalModule as PrecorticalModule
from ._multiplet import MultipletLayer as MultipletLayer
from ._multiplet import MultipletNet as MultipletNet
