"""The read side of the HTTP API under /api/0/ (spec §20): pure request logic here, views in `views`.

Importing the package does not touch the Faust app; `streams.app` imports `streams.web.views`, which
registers the pages on every worker.
"""
