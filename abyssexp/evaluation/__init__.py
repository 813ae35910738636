"""Evaluation: metrics, plots and the ``testing/<condition>/`` artefacts."""
