"""Layer 7, image: the final product. The reproducible rootfs tarball, its verification the
way a user would meet it, and the JSON/JUnit results of that.

May import: core, model, exec, fetching, builder, checks (verify reuses the audits and the
in-root checks).
"""
