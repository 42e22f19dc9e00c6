"""PTM Ledger: royalties."""
