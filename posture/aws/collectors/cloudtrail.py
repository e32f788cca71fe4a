"""Placeholder until this collector is written."""
