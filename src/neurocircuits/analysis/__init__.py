"""neurocircuits.analysis"""
