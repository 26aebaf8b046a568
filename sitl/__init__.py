"""Simulation for tests and demos: radio medium, vehicles, whole swarms on one laptop."""
