"""Every read model the runner keeps, in the order it applies a page to them.

Each view folds events into rows (``projections.readmodel``): ``projections.balances``
(origin codes, available and reserved per holder), ``projections.custody`` (every
movement of every origin code) and ``projections.purchases`` (purchases and the
traceability report). They read stored documents with ``projections.documents`` and
write with ``projections.bulk``.
"""

from __future__ import annotations

from projections.balances import BalancesView
from projections.custody import CustodyView
from projections.purchases import PurchasesView
from projections.readmodel import ReadModel

ALL_VIEWS: tuple[type[ReadModel], ...] = (BalancesView, CustodyView, PurchasesView)
