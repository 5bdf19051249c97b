"""The web UI of spec §21: server-rendered pages for people, on the same web server and data as /api/0/.

Importing the package does not touch the Faust app; `streams.worker` registers `pages.PAGES`.
"""
