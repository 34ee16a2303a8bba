"""Trainable spiking layers: neurons (LIF/PLIF/IF/ALIF/GIF/LI), synaptic layers, time-axis checks."""

from ._layers import SpikingConv2d as SpikingConv2d
from ._layers import SpikingLinear as SpikingLinear
from ._layers import seq_apply as seq_apply
from ._neurons import ALIF as ALIF
from ._neurons import GIF as GIF
from ._neurons import IF as IF
from ._neurons import LI as LI
from ._neurons import LIF as LIF
from ._neurons import SPIKING_NEURONS as SPIKING_NEURONS
from ._neurons import ALIFState as ALIFState
from ._neurons import LIFState as LIFState
from ._neurons import list_neurons as list_neurons
from ._neurons import make_neuron as make_neuron
from ._time import TimeAxisError as TimeAxisError
from ._time import check_time_first as check_time_first
from ._attention import SpikeMatmul as SpikeMatmul
from ._attention import SpikingMLPBlock as SpikingMLPBlock
from ._attention import SpikingSelfAttention as SpikingSelfAttention
from ._delay import DelayLinear as DelayLinear
from ._delay import DelayState as DelayState
from ._stochastic import mmd_rbf as mmd_rbf
from ._stochastic import noisy_lif_event_times as noisy_lif_event_times
