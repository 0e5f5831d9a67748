"""Tests of qatbench/targets/host/."""
