"""keepalived as a source: its configuration and its runtime state (see runtime/)."""
