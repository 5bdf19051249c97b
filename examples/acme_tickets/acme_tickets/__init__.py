"""ACME's ticket system for issue-platform: an example tracker plugin (see the README's "Adding a tracker")."""
