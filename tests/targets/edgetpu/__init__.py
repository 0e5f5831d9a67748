"""Tests of qatbench/targets/edgetpu/."""
