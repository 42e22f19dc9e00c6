"""Presenters: domain objects and read-model rows shaped into the API's response models,
one module per area."""
