"""Provider transports: a lean HTTP/1.1 keep-alive pool and an HTTP/2 connection (APNs)."""
