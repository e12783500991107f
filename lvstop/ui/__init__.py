"""The Textual console: the only package that imports textual (see tests/unit/test_layers.py)."""
