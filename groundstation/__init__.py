"""The field ground station: edge relay between the radio mesh and the cloud (issue 7)."""
