"""Delivery channels: everything that turns a rendered message into a provider call."""
