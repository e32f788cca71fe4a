"""Placeholder until these checks are written."""
