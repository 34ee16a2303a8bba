"""neurocircuits.analysis"""
from . import dynamics as dynamics
from . import lyapunov_snn as lyapunov_snn
