"""A small payments API on FastAPI and aiotheory (see README.md beside this file)."""
