"""The swarm demo: a whole EVENT swarm on one laptop, scripted, watched and reported."""
