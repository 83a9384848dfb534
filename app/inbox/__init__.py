"""In-app messages: the inbox each user's app reads, with a live stream while it is open."""
