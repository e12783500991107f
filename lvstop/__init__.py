"""lvstop: top for Linux LVS/IPVS directors running keepalived."""

__version__ = "0.1.0"
