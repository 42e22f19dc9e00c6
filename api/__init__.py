"""PTM Ledger: api."""
