"""Dynamic content: typed variables resolved per user by segment rules and A/B variants."""
