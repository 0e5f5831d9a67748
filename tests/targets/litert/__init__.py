"""Tests of qatbench/targets/litert/."""
