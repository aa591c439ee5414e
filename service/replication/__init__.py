"""Read routing to streaming standbys, with read-your-writes across requests (``X-Consistency-Token``).

* :mod:`.tokens`: the token (a commit's WAL position), its parsing and its header;
* :mod:`.standbys`: what each process knows of the primary's and the standbys' WAL positions, and the choice of a
  standby for one read (pure: no I/O, a clock passed in);
* ``_async.router`` / ``_sync.router`` (generated): the I/O — sampling the positions, the commit token, the check of
  a client's token against the primary — for each app.
"""
