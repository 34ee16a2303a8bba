"""nn.Module shells over ``functional``: neurons, cells, memories, units, oscillators, hooks."""

from .hooks import HookPoint as HookPoint
from .hooks import UnknownHookPointError as UnknownHookPointError
from .hooks import cache_activations as cache_activations
from .hooks import hook_points as hook_points
from .hooks import hooks as hooks
from .cells import LTC as LTC
from .cells import CfC as CfC
from .cells import Wiring as Wiring
from . import spiking as spiking
from .spiking import ALIF as ALIF
from .spiking import GIF as GIF
from .spiking import IF as IF
from .spiking import LI as LI
from .spiking import LIF as LIF
from .spiking import SpikingConv2d as SpikingConv2d
from .spiking import SpikingLinear as SpikingLinear
from .spiking import TimeAxisError as TimeAxisError
from . import memories as memories
from .memories import DenseHebbianMemory as DenseHebbianMemory
from .memories import HopfieldLayer as HopfieldLayer
from .memories import HopfieldNetwork as HopfieldNetwork
from .memories import ModernHopfield as ModernHopfield
from .constraints import SignConstraint as SignConstraint
from .constraints import constrain_signs as constrain_signs
from .constraints import dale_signs as dale_signs
from .constraints import signed_weight as signed_weight
