"""Shared core: settings, clients, keys, errors, auth, HTTP edge."""
