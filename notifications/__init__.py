"""PTM Ledger: notifications."""
