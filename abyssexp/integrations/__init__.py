"""Mirrors of abyssexp's files into other tools (MLflow); the only package that talks to them."""
