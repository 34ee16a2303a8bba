"""neurocircuits.viz"""
