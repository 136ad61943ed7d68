"""Layer 2, model: the data files (sources.yml, recipes, profiles, target files) and the
run's options and configuration, validated into frozen values, and where things live under
the build dir. Pure data: no processes, no network.

May import: core.
"""
