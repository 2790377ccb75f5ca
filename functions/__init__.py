"""socialvideo backend functions."""
