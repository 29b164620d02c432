"""Developer scripts (standard library only): `python -m scripts.devstack`."""
