"""Tables of the demo company's own customer database (SQLAlchemy Core).

This is the database leakwarden scans and, later, gates; it is not leakwarden's store.  Two
columns are deliberately misnamed, as in real systems: ``customers.remark`` mostly holds
telephone numbers and ``orders.ext_info`` is JSON that often carries the buyer's resident ID
(cross-border orders need it for customs), so discovery has to look at values, not names.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

__all__ = [
    "COLUMN_TYPES",
    "TABLE_ORDER",
    "customers",
    "employees",
    "metadata",
    "orders",
    "payment_cards",
    "tickets",
    "waybills",
]

metadata = MetaData()

employees = Table(
    "employees",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False),
    Column("employee_no", String(16), nullable=False, unique=True),
    Column("department", String(16), nullable=False),
    Column("role", String(32), nullable=False),
    Column("region", String(32), nullable=False),
    Column("manager_id", Integer, ForeignKey("employees.id"), nullable=True),
    Column("hire_date", Date, nullable=False),
    Column("leave_date", Date, nullable=True),
    Column("work_phone", String(32), nullable=False),
    Column("email", String(128), nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False),
    Column("gender", String(1), nullable=False),
    Column("id_card", String(32), nullable=False),
    Column("mobile", String(32), nullable=False),
    Column("email", String(128), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("address", String(255), nullable=False),
    Column("province", String(32), nullable=False),
    Column("city", String(32), nullable=False),
    Column("district", String(32), nullable=False),
    Column("vip", Boolean, nullable=False),
    Column("segment", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("locale", String(8), nullable=False),
    Column("remark", String(255), nullable=True),  # misnamed: mostly a second phone number
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("items", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("ship_to_name", String(64), nullable=False),
    Column("ship_to_phone", String(32), nullable=False),
    Column("ship_to_address", String(255), nullable=False),
    Column("ext_info", Text, nullable=True),  # misnamed: JSON, often with a resident ID
)

waybills = Table(
    "waybills",
    metadata,
    Column("waybill_no", String(32), primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("courier", String(8), nullable=False),
    Column("recipient_name", String(64), nullable=False),
    Column("recipient_phone", String(32), nullable=False),
    Column("recipient_address", String(255), nullable=False),
    Column("sender_name", String(64), nullable=False),
    Column("sender_phone", String(32), nullable=False),
    Column("sender_address", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

payment_cards = Table(
    "payment_cards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("card_no", String(32), nullable=False),
    Column("bank", String(32), nullable=False),
    Column("card_type", String(8), nullable=False),
    Column("holder_name", String(64), nullable=False),
    Column("expiry", String(5), nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=True),
    Column("assigned_employee_id", Integer, ForeignKey("employees.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(8), nullable=False),
    Column("opened_at", DateTime, nullable=False),
    Column("closed_at", DateTime, nullable=True),
    Column("notes", Text, nullable=False),  # free text; staff sometimes paste phones and IDs
)

# Insert order that satisfies every foreign key.
TABLE_ORDER = ("employees", "customers", "orders", "waybills", "payment_cards", "tickets")

# Ground truth for discovery: which personal-information types each column's values are (by
# format), per table; columns not listed hold none.  ``waybills.sender_*`` are the company's own
# warehouse contacts: landlines and addresses by format, though not about a natural person.
COLUMN_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "employees": {
        "name": ("person_name",),
        "work_phone": ("cn_landline", "cn_mobile"),
        "email": ("email",),
    },
    "customers": {
        "name": ("person_name",),
        "id_card": ("cn_resident_id", "us_ssn"),
        "mobile": ("cn_mobile", "phone"),
        "email": ("email",),
        "birth_date": ("date_of_birth",),
        "address": ("address",),
        "remark": ("cn_mobile", "cn_landline"),
    },
    "orders": {
        "ship_to_name": ("person_name",),
        "ship_to_phone": ("cn_mobile", "phone"),
        "ship_to_address": ("address",),
        "ext_info": ("cn_resident_id",),
    },
    "waybills": {
        "waybill_no": ("express_waybill",),
        "recipient_name": ("person_name",),
        "recipient_phone": ("cn_mobile", "phone"),
        "recipient_address": ("address",),
        "sender_phone": ("cn_landline",),
        "sender_address": ("address",),
    },
    "payment_cards": {
        "card_no": ("bank_card",),
        "holder_name": ("person_name",),
    },
    "tickets": {
        "notes": ("cn_mobile", "cn_resident_id", "bank_card", "cn_uscc", "address",
                  "person_name", "phone"),
    },
}  # fmt: skip
