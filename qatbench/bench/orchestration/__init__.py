"""Running the matrix: config, planning, the child-process launcher, the run session."""
