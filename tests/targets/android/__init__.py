"""Tests of qatbench/targets/android/."""
