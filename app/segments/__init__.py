"""Segments: a JSON condition language compiled to one SQL statement."""
