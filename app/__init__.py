"""Nudge: self-hostable, multi-tenant customer messaging."""
