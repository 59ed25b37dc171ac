"""The daily monitor's statistics: drift, regime and importance checks, live performance and the
rollback rule (pure: the flow reads bars and the ledger, logs and moves aliases)."""
