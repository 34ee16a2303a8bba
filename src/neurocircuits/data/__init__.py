"""neurocircuits.data"""
