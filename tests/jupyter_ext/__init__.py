"""Tests of the Jupyter server extension, against real ``jupyter server`` processes and kernels."""
