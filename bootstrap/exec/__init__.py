"""Layer 3, exec: running programs. The one subprocess runner, the namespaced chroot
(sandbox), foreign-arch code through qemu-user and binfmt_misc, and the lock that allows one
doit run per build dir.

May import: core, model (binfmt reads a target's qemu name and ELF machine).
"""
