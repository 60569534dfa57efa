"""Preloaded interpreters: apps started in milliseconds by forking an interpreter of their
environment that has already imported their SDK, into their own sandbox (issue 16)."""
