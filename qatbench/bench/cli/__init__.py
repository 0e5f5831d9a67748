"""The ``qatbench`` command (also ``python -m qatbench``): a typer app whose commands are
grouped by job -- ``timing`` (run, bench, profile, build, cache, tune), ``gate``
(compare, ab, bisect, history, plot history), ``inspection`` (report, explore, targets,
models, fingerprint) -- each a thin translation of flags into one typed call of
``orchestration``. ``params`` parses flag values at the edge; ``app`` holds the command
table and ``main``, the one place an escaped error becomes an exit code (a ``UserError``:
2, anything unforeseen: 70, with its traceback saved).
"""

from qatbench.bench.cli.app import EXIT_INTERNAL, app, main

__all__ = ["EXIT_INTERNAL", "app", "main"]
