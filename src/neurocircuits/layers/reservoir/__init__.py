"""Reservoirs: echo state networks, E/I-adaptive reservoirs, liquid state machines."""

from ._esn import ESNConfig as ESNConfig
from ._esn import ESNState as ESNState
from ._esn import EchoStateNetwork as EchoStateNetwork
from ._esn import esn_run as esn_run
from ._esn import ridge_fit as ridge_fit
from ._esn import spectral_radius as spectral_radius
from ._lsm import LSMConfig as LSMConfig
from ._lsm import LiquidStateMachine as LiquidStateMachine
from ._lsm import event_stream_dataset as event_stream_dataset
from ._ei_adaptive import EIAdaptiveReservoir as EIAdaptiveReservoir
from ._ei_adaptive import EIReservoirConfig as EIReservoirConfig
from ._ei_adaptive import EIReservoirState as EIReservoirState
from ._ei_adaptive import ei_reservoir_step as ei_reservoir_step
from ._contrastive_head import ContrastiveHeadConfig as ContrastiveHeadConfig
from ._contrastive_head import ProjectionHead as ProjectionHead
from ._contrastive_head import augment_spikes as augment_spikes
from ._contrastive_head import nt_xent as nt_xent
from ._contrastive_head import train_contrastive_head as train_contrastive_head
