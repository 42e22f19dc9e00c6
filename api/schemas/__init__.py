"""Request and response models of the API, one module per area (``api.schemas.purchases``,
``…royalties``, ``…audit``, …), imported from there. Model names are the OpenAPI schema
names: renaming a class changes the published document."""
