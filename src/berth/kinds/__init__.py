"""Berth's built-in job kinds, registered through the same entry points as plugins."""
