"""Targets that time a model in this process on the host's own LiteRT interpreter.

``cpu`` (cpu-xnnpack, cpu-ref) and what it stands on: ``interpreter_target`` (the
in-process interpreter base the Edge TPU and LiteRT families reuse), per-op profiles
cut into one-op models (``op_profile``, ``op_cut``), instruction counts (``instructions``)
and a pinned runtime in its own venv (``runtime_venv``). Other families may import this
one; it imports none of them.
"""
