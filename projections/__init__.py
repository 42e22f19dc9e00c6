"""PTM Ledger: projections."""
