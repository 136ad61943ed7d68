"""Engine for bootstrapping an LLVM/libc++/musl Linux system from source.

The engine is layered, lowest first in LAYERS: a module imports only from its own layer and
the layers before it, never from a later one, and no modules import each other in a cycle
(tests/test_layering.py checks both). Each layer's __init__ says what it holds.

    core      the error type, file helpers, the ELF reader
    model     the data files and the run's options, validated into frozen values
    exec      running programs: subprocesses, the namespaced chroot, qemu-user, the run lock
    fetching  source archives: download, the Debian mirror, unpack, patch
    builder   one component's build: spec and keys, environment, layers, the cross driver
    checks    checks of the host and of what the builds produced
    image     the rootfs tarball and its verification
    plan      the project: data loaded once, every component resolved into its plan
    pipeline  the doit layer: tasks, actions, the reporter
"""

LAYERS = ("core", "model", "exec", "fetching", "builder", "checks", "image", "plan", "pipeline")
