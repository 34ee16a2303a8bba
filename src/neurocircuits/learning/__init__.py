"""neurocircuits.learning"""
