"""The companion agent: flight controller, detector intake, node stack and radio, wired.

`intake.py` checks the detector's JSON lines; `bulk.py` cuts image chips and logs into
LOW-priority bulk transfers; `telemetry.py` builds the compact reports the radio carries;
`linkloss.py` decides what to do when the ground station is out of reach; `config.py`
reads the TOML file; `agent.py` runs it all under trio, once `assembly.py` has opened
what it needs; `cli.py` is `event-agent`.
"""
