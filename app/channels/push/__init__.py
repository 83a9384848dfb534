"""Push: FCM HTTP v1, APNs over HTTP/2 with token auth, and Web Push (VAPID, aes128gcm)."""
