"""Layer 8, plan: the project. Every data file loaded once, each stage's component graph,
and every component of every target resolved into its spec and keys.

May import: every layer below (core ... image).
"""
