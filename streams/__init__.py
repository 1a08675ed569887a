"""Platewatch: license plate reads → hotlist match → jurisdiction filter → per-recipient alerts."""

__version__ = "0.1.0"
