"""neurocircuits.sim: spiking network simulation.

    from neurocircuits import sim
    net = sim.Network(dt_ms=0.1)
    exc = net.add(sim.NeuronGroup(3200, model="lif", tau_mem_ms=20, v_thresh_mv=-50, v_reset_mv=-60, refractory_ms=5))
    ...
    net.run(1000)
"""

from ..functional.neurons import NEURON_MODELS as NEURON_MODELS
from ..functional.synapses import SYNAPSES as SYNAPSES
from ._connect import CSR as CSR
from ._connect import ConnectivityError as ConnectivityError
from ._groups import NeuronGroup as NeuronGroup
from ._groups import PoissonGroup as PoissonGroup
from ._groups import SpikeGeneratorGroup as SpikeGeneratorGroup
from ._groups import Subgroup as Subgroup
from ._monitors import MonitorMemoryError as MonitorMemoryError
from ._monitors import PopulationRateMonitor as PopulationRateMonitor
from ._monitors import SpikeMonitor as SpikeMonitor
from ._monitors import StateMonitor as StateMonitor
from ._network import Network as Network
from ._network import SimulationDivergedError as SimulationDivergedError
from ._projection import STDP as STDP
from ._projection import GapJunction as GapJunction
from ._projection import Projection as Projection
from ._projection import TripletSTDP as TripletSTDP
from ._stats import save_spikes_npz as save_spikes_npz
from ._stats import save_spikes_nwb as save_spikes_nwb
from ._stats import spike_statistics as spike_statistics
from .cuba import build_cuba as build_cuba
