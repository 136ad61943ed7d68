"""Layer 5, builder: building one component. Its resolved spec, build keys and stamps,
layers and their unions, the component cache that keeps finished layers by key (locally
and in an OCI registry), where its commands run and what they see (buildenv, the build
styles in styles/), the relocation of a staged install, the stage1 cross driver that
recipes run as `python -m bootstrap.builder.driver`, and the component driver itself
(component).

May import: core, model, exec, fetching.
"""
