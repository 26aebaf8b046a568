"""The node stack every EVENT node runs, and the UAV companion agent on top of it."""
