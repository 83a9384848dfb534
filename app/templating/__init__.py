"""Personalisation: sandboxed Jinja templates, compiled once per variant, rendered per user."""
