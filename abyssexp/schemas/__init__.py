"""Strict, versioned pydantic schemas: params.json and the records abyssexp writes."""
