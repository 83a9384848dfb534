"""Feedback from recipients: open pixel, click redirects, unsubscribes, signed links to them."""
