"""Destinations: one module (or package) per inventory API, each declaring it as `DESTINATION`.

Each implements `base.Destination`; `registry` finds them and builds the one the settings name.
"""
