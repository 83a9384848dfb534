"""The browser SDK: a plain JavaScript file (no build step), its service worker, a demo page."""
