"""Vehicles for tests and offline runs: a built-in ArduCopter double and a launcher for
real ArduPilot SITL. The double (`double.VehicleDouble`) is a test double, not an
autopilot; `serve` drives it over a trio stream or a TCP port like SITL's 5760."""
