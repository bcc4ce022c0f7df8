"""The feature store: governed, versioned feature views with leak-free point-in-time training
sets and an online store (SQLite embedded, Redis for servers).

One job per module: :mod:`.definitions` (what a module declares), :mod:`.registry` (immutable
versions, registered on module push), :mod:`.pit` (the point-in-time join), :mod:`.offline`
(governed reads and training sets), :mod:`.online` (the online stores), :mod:`.materialize`,
:mod:`.consistency`, and :mod:`.service` (the facade the Studio area calls).
"""
