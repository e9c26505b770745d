"""Sync: several machines, one history, through a PostgreSQL hub (CONTRACT §10, docs/sync.md).

A service-layer component (:class:`sidecar.sync.engine.SyncEngine`): it reads the store, writes
other devices' changes into it through :meth:`~sidecar.store.store.Store.apply_remote`, and
never sits on a request's path. Nothing here is imported unless ``--sync-url`` is set.
"""
