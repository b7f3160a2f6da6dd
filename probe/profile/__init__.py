"""Where a request's memory goes: the server run under memray, read per source line.

command.py wraps the server's own command in `memray run` (memray's code, never
probe's, runs in the server); reader.py turns memray's capture file into plain
records (the only module that imports memray); sites.py is pure: the request's peak
per allocation site, its slope against n, and whose code each site is.
"""
