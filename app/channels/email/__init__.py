"""Email: MIME building with tracking and one-click unsubscribe, sent over pooled SMTP."""
