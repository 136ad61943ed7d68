"""Engine for bootstrapping an LLVM/libc++/musl Linux system from source."""
