"""Subscription preferences per channel and category; the hosted preference page."""
