"""The rebalance worker: runs the engine for the months that are due, writes the new
rebalances to the ledger and publishes them to the cache."""
