"""Mesh routing between nodes (sans-IO): neighbours, AODV routes, gateway, forwarding."""
