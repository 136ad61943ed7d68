"""Layer 9, pipeline: the doit layer (dodo.py's). The task graph built from the project,
the picklable action functions, the reporter and its progress line. Not named `doit`, so
that it can never shadow the doit library.

May import: every layer below (core ... plan).
"""
