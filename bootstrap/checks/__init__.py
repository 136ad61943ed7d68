"""Layer 6, checks: the host's preflight (tools, root, binfmt_misc), and checks of what the
builds produced: stage1 acceptance, ELF and path audits, in-root checks in the sandbox, the
stage3 fixpoint rebuild.

May import: core, model, exec, fetching, builder (the fixpoint rebuilds a component).
"""
