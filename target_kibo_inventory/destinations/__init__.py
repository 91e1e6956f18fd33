"""Destinations: one module per inventory API, each implementing `base.Destination`.

`registry.build` picks the one the settings name.
"""
