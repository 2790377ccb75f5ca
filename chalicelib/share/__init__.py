"""Share a video to many friends; video projection from the video platform's events."""
