"""Sweeps: grid, random, seed and fold plans, Optuna studies, and the slots that run them."""
