"""Continuous-time and brain-inspired recurrent cells: LTC, CfC, wirings (NCP), and more."""

from ._cfc import CfC as CfC
from ._common import InputShapeError as InputShapeError
from ._ltc import LTC as LTC
from ._ltc import POSITIVITY as POSITIVITY
from ._wiring import WIRINGS as WIRINGS
from ._wiring import Wiring as Wiring
from ._wiring import auto_ncp as auto_ncp
from ._wiring import fully_connected as fully_connected
from ._wiring import ncp as ncp
from ._wiring import random_wiring as random_wiring
from ._fast_weights import FEATURE_MAPS as FEATURE_MAPS
from ._fast_weights import FastWeightLayer as FastWeightLayer
from ._fast_weights import FastWeightState as FastWeightState
from ._fast_weights import fwp_step as fwp_step
from ._fast_weights import linear_attention as linear_attention
from ._rnn_of_rnns import AssemblyState as AssemblyState
from ._rnn_of_rnns import ContractiveRNNAssembly as ContractiveRNNAssembly
from ._wave_rnn import IRNN as IRNN
from ._wave_rnn import WaveRNN as WaveRNN
from ._wave_rnn import WaveState as WaveState
from ._wave_rnn import wave_speed as wave_speed
from ._elm import ELM as ELM
from ._elm import ELMLayer as ELMLayer
from ._elm import ELMState as ELMState
from ._bdh import BDH as BDH
