"""Run the matrix, store it, judge it, present it (see ARCHITECTURE.md).

Four subpackages whose imports go one way:
``orchestration`` (run jobs in child processes) -> ``presentation`` (reports, plots,
tables) -> ``statistics`` (latency statistics, the regression gate, history) ->
``storage`` (the results table, its key, run directories). ``cli`` sits on top.
"""
