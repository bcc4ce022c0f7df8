"""One router per domain; each is a thin edge over a platform service."""
