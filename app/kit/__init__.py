"""Shared plumbing: settings, database, errors, types used by every feature package."""
