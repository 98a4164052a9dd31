"""The demo company: a seeded, size-configurable synthetic customer database and leaked files.

- ``leakwarden.demo.values.Values``: format-valid synthetic personal data, one value or many.
- ``build_company(url, customers=N, seed=S)``: stream a whole company (employees, customers,
  orders, waybills, payment cards, tickets) into any SQLAlchemy database.
- ``write_leak_files(folder, seed=S)``: exports and logs in which the company's personal data
  has leaked, plus clean files and a broken one, with a ground-truth ``manifest.json``.

NumPy and the generators load with this package; SQLAlchemy, pyarrow and openpyxl only inside
the functions that need them.
"""

from leakwarden.demo.build import BuildSummary, CompanyExistsError, build_company
from leakwarden.demo.company import CompanyShape, iter_company
from leakwarden.demo.leakfiles import read_company, write_leak_files
from leakwarden.demo.values import Values

__all__ = [
    "BuildSummary",
    "CompanyExistsError",
    "CompanyShape",
    "Values",
    "build_company",
    "iter_company",
    "read_company",
    "write_leak_files",
]
