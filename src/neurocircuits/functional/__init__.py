"""neurocircuits.functional"""
