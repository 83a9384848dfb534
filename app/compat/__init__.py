"""Segment-spec compatible ingest, so apps instrumented with Segment's or RudderStack's
libraries can send to Nudge by changing their host setting."""
