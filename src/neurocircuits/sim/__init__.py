"""neurocircuits.sim"""
