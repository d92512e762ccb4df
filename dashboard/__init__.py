"""The department dashboard: read-only figures across every app (scheduling, reporting, interfaces).

It sits above the apps, as the URLconf does: it imports them and no app imports it, so `ris/` (the core) stays free
of app imports.
"""
