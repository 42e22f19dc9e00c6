"""PTM Ledger: the nickel royalty base price (PBLRN).

Pure calculation (:mod:`royalties.calculation`), causes of variation
(:mod:`royalties.variation`), the "DataNiquel" annex (:mod:`royalties.annex`), deadlines
(:mod:`royalties.deadlines`), the event-sourced resolution case (:mod:`royalties.case`,
:mod:`royalties.application`) and the ``ptm royalties`` command (:mod:`ptm.royalties_cli`).
See ``docs/royalties.md``.
"""
