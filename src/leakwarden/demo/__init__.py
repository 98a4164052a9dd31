"""The demo company: a seeded, size-configurable synthetic customer database and leaked files.

``leakwarden.demo.values`` makes format-valid synthetic personal data; ``build_company`` streams
a whole company (customers, orders, waybills, cards, tickets, employees) into any SQLAlchemy
database; ``write_leak_files`` writes exports and logs in which personal data has leaked, with a
ground-truth manifest.  Heavy imports happen inside the functions.
"""
