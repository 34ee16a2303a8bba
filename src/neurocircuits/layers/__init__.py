"""nn.Module shells over ``functional``: neurons, cells, memories, units, oscillators, hooks."""

from .hooks import HookPoint as HookPoint
from .hooks import UnknownHookPointError as UnknownHookPointError
from .hooks import cache_activations as cache_activations
from .hooks import hook_points as hook_points
from .hooks import hooks as hooks
