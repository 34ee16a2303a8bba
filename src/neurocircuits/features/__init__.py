"""neurocircuits.features"""
