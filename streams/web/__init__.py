"""The HTTP API under /api/0/ (spec §20): pure request logic in the modules, views in `views`.

Importing the package does not touch the Faust app; `streams.worker` registers the views' pages.
"""
