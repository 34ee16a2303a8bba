"""neurocircuits.analysis"""
from . import dynamics as dynamics
