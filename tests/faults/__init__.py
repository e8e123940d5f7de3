"""Faults produced with real processes: Redis stopped, the worker killed, the database cut, and a
restart of every process; each test checks what clients saw and what the ledger holds."""
