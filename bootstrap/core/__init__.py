"""Layer 1, core: the one user-facing error type, small file system helpers, a minimal ELF
reader. Knows nothing of the pipeline.

May import: nothing of the engine outside core. Every layer may import it.
"""
