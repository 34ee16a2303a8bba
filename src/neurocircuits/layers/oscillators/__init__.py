"""Oscillator layers: Kuramoto populations, AKOrN layers, Wilson-Cowan metapopulations, map networks."""

from ._kuramoto import AKOrNConfig as AKOrNConfig
from ._kuramoto import AKOrNLayer as AKOrNLayer
from ._kuramoto import AKOrNState as AKOrNState
from ._kuramoto import AttentionCoupling as AttentionCoupling
from ._kuramoto import KuramotoPopulation as KuramotoPopulation
from ._kuramoto import critical_coupling_lorentzian as critical_coupling_lorentzian
from ._kuramoto import lorentzian_frequencies as lorentzian_frequencies
from ._wilson_cowan import WilsonCowanConfig as WilsonCowanConfig
from ._wilson_cowan import WilsonCowanNetwork as WilsonCowanNetwork
from ._wilson_cowan import simulate_wilson_cowan as simulate_wilson_cowan
from ._binding import bind_objects as bind_objects
from ._binding import cluster_oscillators as cluster_oscillators
from ._map_networks import RingStarCoupling as RingStarCoupling
from ._map_networks import simulate_map_network as simulate_map_network
from ._map_chain import COEXISTENCE_CHAIN as COEXISTENCE_CHAIN
from ._map_chain import MAP_NEURONS as MAP_NEURONS
from ._map_chain import HeterogeneousMapChain as HeterogeneousMapChain
from ._map_chain import MapChainConfig as MapChainConfig
from ._map_chain import MapChainState as MapChainState
from ._learned_binding import BindingAKOrN as BindingAKOrN
from ._learned_binding import BindingAKOrNConfig as BindingAKOrNConfig
from ._learned_binding import binding_ari as binding_ari
from ._learned_binding import soft_cluster_count as soft_cluster_count
from ._learned_binding import train_binding_akorn as train_binding_akorn
