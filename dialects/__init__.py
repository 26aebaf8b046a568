"""The EVENT MAVLink dialect: `event.xml` and its generated bindings `event.py`."""
