"""neurocircuits.discover"""
