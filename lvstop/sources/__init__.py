"""Readers of the kernel and keepalived; each produces model values."""
