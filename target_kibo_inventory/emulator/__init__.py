"""Local emulator of the inventory APIs: one module per API (`api.Api`), kibo.py and increff.py."""
