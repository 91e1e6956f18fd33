"""Local emulator of the Kibo OMS inventory endpoints."""
