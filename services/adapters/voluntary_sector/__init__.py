"""Voluntary-sector adapter: a minimal JSON form and CSV upload."""
