"""Reads for the dashboard pages, one module per page family. No read issues a query per row."""
