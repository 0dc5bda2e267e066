"""The dashboard's reads, one module per page; each ``page(filters)`` returns a ``figures.Page``.
``PAGES`` lists them in menu order."""
