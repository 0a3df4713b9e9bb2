"""The desired state as read from disk: settings, provider files with their locations, and the
schema and semantic checks."""
