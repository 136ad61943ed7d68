"""Layer 4, fetching: getting a source ready to build. Downloads into the content-addressed
cache, a local mirror filled from Debian source packages, safe unpacking, patch series.

May import: core, model, exec.
"""
