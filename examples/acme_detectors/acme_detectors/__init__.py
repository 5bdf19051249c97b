"""ACME's detectors for issue-platform: an example plugin package (see the README's "Adding an issue type")."""
