"""Rows of the demo company, generated in fixed-size chunks so any size streams in constant memory.

Customers are made ``CHUNK`` at a time from a random stream seeded by ``(seed, chunk number)``,
so customer *i* is the same in every company built with the same seed, whatever its size or
batch size (a 1,000-customer demo is a prefix of the 10-million one).  Each chunk's orders,
waybills, cards and tickets come from a second stream of the same chunk; employees from a third.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

import numpy as np

from leakwarden.demo.values import DEMO_TODAY, Values

__all__ = [
    "CHUNK",
    "Batch",
    "CompanyShape",
    "customer_columns",
    "employee_count",
    "iter_company",
]

CHUNK = 2000  # customers per random stream; fixed so data does not depend on batch size

_START = datetime(2016, 1, 1)
_NOW = datetime.combine(DEMO_TODAY, datetime.min.time())

DEPARTMENTS: dict[str, tuple[float, tuple[str, str, str]]] = {
    # department: (share of staff, (head, team lead, staff) titles)
    "客服": (0.34, ("客服总监", "客服主管", "客服专员")),
    "配送": (0.22, ("物流总监", "站点经理", "配送员")),
    "营销": (0.10, ("市场总监", "营销经理", "营销专员")),
    "技术": (0.10, ("技术总监", "研发经理", "后端工程师")),
    "数据分析": (0.06, ("数据总监", "数据分析主管", "数据分析师")),
    "财务": (0.05, ("财务总监", "财务经理", "会计")),
    "风控": (0.04, ("风控总监", "风控经理", "风控专员")),
    "人力资源": (0.03, ("人力资源总监", "招聘经理", "人事专员")),
    "仓储": (0.04, ("仓储总监", "仓库主管", "仓管员")),
    "法务": (0.02, ("法务总监", "法务经理", "法务专员")),
}
COMPANY_DOMAIN = "huayue-mall.example"  # reserved TLD: no real mailbox
_HQ_PHONE = "0571-8816"

PRODUCTS: tuple[tuple[str, float], ...] = (
    ("华为 Mate 60 手机", 5999.0), ("小米 14 手机", 3999.0), ("iPhone 15 128G", 5999.0),
    ("AirPods Pro 耳机", 1899.0), ("Type-C 数据线", 29.9), ("20000mAh 充电宝", 129.0),
    ("羽绒服 男款", 699.0), ("羊毛衫 女款", 399.0), ("运动鞋", 459.0), ("双肩包", 199.0),
    ("有机大米 5kg", 69.9), ("纯牛奶 24盒", 59.9), ("坚果礼盒", 128.0), ("咖啡豆 1kg", 158.0),
    ("洗衣液 3kg", 49.9), ("抽纸 24包", 45.9), ("电饭煲", 399.0), ("空气炸锅", 329.0),
    ("扫地机器人", 1999.0), ("儿童绘本套装", 89.0), ("婴儿纸尿裤", 139.0), ("猫粮 10kg", 239.0),
    ("面霜 50ml", 320.0), ("口红", 260.0), ("跑步机", 2599.0), ("瑜伽垫", 79.0),
    ("Wireless Mouse", 99.0), ("USB-C Hub", 189.0), ("Kindle 电子书阅读器", 998.0),
)  # fmt: skip
WAREHOUSES: tuple[tuple[str, str, str], ...] = (
    ("华悦商城华东仓", "0571-88161000", "浙江省杭州市余杭区良睦路1399号华悦物流园"),
    ("华悦商城华南仓", "020-36261000", "广东省广州市白云区太和镇华悦物流园3号库"),
    ("华悦商城华北仓", "022-58661000", "天津市武清区京滨工业园华悦物流中心"),
    ("华悦商城西南仓", "028-85161000", "四川省成都市双流区物联大道88号"),
    ("华悦商城华中仓", "027-84661000", "湖北省武汉市东西湖区走马岭华悦仓"),
)
_CHANNELS = ("app", "web", "mini_program", "h5", "live_stream")
_ORDER_STATUS = {"delivered": 70.0, "shipped": 8.0, "paid": 5.0, "refunded": 7.0,
                 "cancelled": 10.0}  # fmt: skip
_TICKET_KINDS = {"delivery": 35.0, "refund": 25.0, "complaint": 15.0, "address_change": 10.0,
                 "invoice": 8.0, "account": 7.0}  # fmt: skip
_SEGMENTS = {"active": 45.0, "new": 20.0, "dormant": 20.0, "churned": 10.0, "wholesale": 5.0}
_REMARK_TEXT = ("周末送货", "老客户", "电话联系前先发短信", "不要放快递柜", "工作日白天不在家")


@dataclass(frozen=True)
class CompanyShape:
    """How much activity each customer brings (means), and the share of en_US customers."""

    orders_per_customer: float = 2.0
    tickets_per_customer: float = 0.3
    en_share: float = 0.08


@dataclass
class Batch:
    """Rows for one table, column-wise: ``columns[name][i]`` is row *i*'s value."""

    table: str
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def rows(self) -> Iterator[tuple[Any, ...]]:
        return zip(*self.columns.values(), strict=True)

    def dicts(self) -> list[dict[str, Any]]:
        keys = list(self.columns)
        return [dict(zip(keys, row, strict=True)) for row in self.rows()]

    def split(self, size: int) -> Iterator[Batch]:
        """Pieces of at most ``size`` rows."""
        for start in range(0, len(self), size):
            yield Batch(self.table, {k: v[start : start + size] for k, v in self.columns.items()})


def employee_count(customers: int) -> int:
    """Staff size for a company of ``customers``: one per 500 customers, 60 to 20,000."""
    return min(max(customers // 500, 60), 20_000)


def _seconds_between(v: Values, starts: list[datetime], end: datetime) -> list[datetime]:
    fractions = v.rng.random(len(starts)).tolist()
    return [
        s + timedelta(seconds=int(f * max((end - s).total_seconds(), 1.0)))
        for s, f in zip(starts, fractions, strict=True)
    ]


def _not_before_18(at: datetime, born: date) -> datetime:
    """Accounts are opened by adults: move ``at`` past the 18th birthday (keeping its time of
    day), but not past the demo's today."""
    try:
        birthday = born.replace(year=born.year + 18)
    except ValueError:  # born on 29 February
        birthday = date(born.year + 18, 3, 1)
    adult = datetime.combine(birthday, at.time())
    if at >= adult:
        return at
    return min(adult + timedelta(days=at.day), _NOW - timedelta(hours=1))


def customer_columns(seed: int, chunk: int, shape: CompanyShape = CompanyShape()) -> Batch:
    """Customers ``chunk * CHUNK + 1`` ... ``(chunk + 1) * CHUNK``, always the same for a seed."""
    v = Values([seed, 1, chunk])
    people = v.people_columns(CHUNK, en_share=shape.en_share)
    n = CHUNK
    births = cast(list[date], people["birth_date"])
    opened = v.datetimes(n, _START, _NOW - timedelta(days=30))
    created = [_not_before_18(at, born) for at, born in zip(opened, births, strict=True)]
    # remark: 55 % a second mobile, 10 % a landline, 10 % a note, 25 % empty.
    kind = np.digitize(v.rng.random(n), [0.55, 0.65, 0.75]).tolist()
    counts = Counter(kind)
    made = {
        0: iter(v.mobiles(counts[0])),
        1: iter(v.landlines(counts[1])),
        2: iter([_REMARK_TEXT[i] for i in v.rng.integers(0, len(_REMARK_TEXT), counts[2])]),
    }
    remark: list[str | None] = [next(made[k]) if k in made else None for k in kind]
    first = chunk * CHUNK + 1
    return Batch(
        "customers",
        {
            "id": list(range(first, first + n)),
            "name": people["name"],
            "gender": people["gender"],
            "id_card": people["id_number"],
            "mobile": people["mobile"],
            "email": people["email"],
            "birth_date": people["birth_date"],
            "address": people["address"],
            "province": people["province"],
            "city": people["city"],
            "district": people["district"],
            "vip": (v.rng.random(n) < 0.1).tolist(),
            "segment": v._pick(n, _SEGMENTS),
            "created_at": created,
            "locale": people["locale"],
            "remark": remark,
        },
    )


def _employees(seed: int, count: int) -> Batch:
    """A CEO, then per department a head, team leads (one per nine staff) and staff."""
    v = Values([seed, 3])
    genders = v.genders(count)
    names = v._cn_names(count, genders)
    places = v.counties(count)
    hires = v.datetimes(count, datetime(2012, 1, 1), _NOW - timedelta(days=20))
    left = (v.rng.random(count) < 0.08).tolist()
    leave_after = v.rng.integers(60, 2000, count).tolist()
    ext = v.rng.integers(1000, 9999, count).tolist()
    mobiles = v.mobiles(count)
    sizes = {d: max(2, round((count - 1) * share)) for d, (share, _t) in DEPARTMENTS.items()}
    sizes["客服"] += count - 1 - sum(sizes.values())
    departments: list[str] = ["总经理办公室"]
    roles: list[str] = ["总经理"]
    managers: list[int | None] = [None]
    for dept, size in sizes.items():
        head_title, lead_title, staff_title = DEPARTMENTS[dept][1]
        head = lead = len(departments) + 1
        departments.append(dept)
        roles.append(head_title)
        managers.append(1)
        for k in range(size - 1):
            is_lead = k % 9 == 0
            departments.append(dept)
            roles.append(lead_title if is_lead else staff_title)
            managers.append(head if is_lead else lead)
            if is_lead:
                lead = len(departments)
    return Batch(
        "employees",
        {
            "id": list(range(1, count + 1)),
            "name": [name for name, _r in names],
            "employee_no": [f"HY{100000 + i}" for i in range(1, count + 1)],
            "department": departments,
            "role": roles,
            "region": [c.city if c.province == c.city else c.province + c.city for c in places],
            "manager_id": managers,
            "hire_date": [h.date() for h in hires],
            "leave_date": [
                min(h.date() + timedelta(days=a), DEMO_TODAY) if gone else None
                for h, gone, a in zip(hires, left, leave_after, strict=True)
            ],
            "work_phone": [
                m if dept == "配送" else f"{_HQ_PHONE}{x}"
                for m, dept, x in zip(mobiles, departments, ext, strict=True)
            ],
            "email": [f"{r}.{i}@{COMPANY_DOMAIN}" for i, (_n, r) in enumerate(names, start=1)],
        },
    )


@dataclass
class _Counters:
    order: int = 1
    card: int = 1
    ticket: int = 1


def _activity(
    seed: int, chunk: int, people: Batch, agents: list[int], ids: _Counters, shape: CompanyShape
) -> list[Batch]:
    """Orders, waybills, payment cards and tickets of one chunk of customers."""
    v = Values([seed, 2, chunk])
    rng = v.rng
    c = people.columns
    k = len(people)
    # Orders: each ships to the customer, or (15 %) to someone else.
    per_customer = rng.poisson(shape.orders_per_customer, k)
    owner = np.repeat(np.arange(k), per_customer).tolist()
    m = len(owner)
    order_ids = list(range(ids.order, ids.order + m))
    ids.order += m
    created = _seconds_between(v, [c["created_at"][i] for i in owner], _NOW)
    amounts = np.round(np.clip(rng.lognormal(5.0, 1.0, m), 1.0, 50_000.0), 2).tolist()
    status = v._pick(m, _ORDER_STATUS)
    gift = (rng.random(m) < 0.15).tolist()
    others = v.people_columns(sum(gift), en_share=0.0)
    ship_name, ship_phone, ship_addr = [], [], []
    g = 0
    for i, is_gift in zip(owner, gift, strict=True):
        src, row = (others, g) if is_gift else (c, i)
        ship_name.append(src["name"][row])
        ship_phone.append(src["mobile"][row])
        ship_addr.append(src["address"][row])
        g += is_gift
    n_items = rng.integers(1, 4, m).tolist()
    product = rng.integers(0, len(PRODUCTS), (m, 3)).tolist()
    qty = rng.integers(1, 4, (m, 3)).tolist()
    items = [
        "; ".join(f"{PRODUCTS[p][0]} x{q}" for p, q in zip(product[j][:n], qty[j][:n], strict=True))
        for j, n in enumerate(n_items)
    ]
    channel = [_CHANNELS[x] for x in rng.integers(0, len(_CHANNELS), m).tolist()]
    cross_border = (rng.random(m) < 0.35).tolist()
    # JSON written by hand: every value is plain ASCII, and json.dumps per row costs a third
    # of the order table's time.
    ext_info = [
        f'{{"channel": "{ch}", "customs": "CN", "kyc": "{c["id_card"][i]}"}}'
        if cb and c["locale"][i] == "zh_CN"
        else f'{{"channel": "{ch}", "coupon": null}}'
        for i, ch, cb in zip(owner, channel, cross_border, strict=True)
    ]
    orders = Batch(
        "orders",
        {
            "id": order_ids,
            "customer_id": [c["id"][i] for i in owner],
            "amount": amounts,
            "items": items,
            "created_at": created,
            "status": status,
            "ship_to_name": ship_name,
            "ship_to_phone": ship_phone,
            "ship_to_address": ship_addr,
            "ext_info": ext_info,
        },
    )
    # Waybills: one for every order that left the warehouse.
    shipped = [j for j, st in enumerate(status) if st in ("shipped", "delivered", "refunded")]
    couriers = v._pick(len(shipped), {"SF": 3.0, "JD": 3.0, "YT": 2.0, "ZTO": 2.0})
    house = rng.integers(0, len(WAREHOUSES), len(shipped)).tolist()
    lag = rng.integers(2 * 3600, 48 * 3600, len(shipped)).tolist()
    waybills = Batch(
        "waybills",
        {
            "waybill_no": v.waybills(
                len(shipped), couriers, serials=[order_ids[j] for j in shipped]
            ),
            "order_id": [order_ids[j] for j in shipped],
            "courier": couriers,
            "recipient_name": [ship_name[j] for j in shipped],
            "recipient_phone": [ship_phone[j] for j in shipped],
            "recipient_address": [ship_addr[j] for j in shipped],
            "sender_name": [WAREHOUSES[h][0] for h in house],
            "sender_phone": [WAREHOUSES[h][1] for h in house],
            "sender_address": [WAREHOUSES[h][2] for h in house],
            "created_at": [
                created[j] + timedelta(seconds=s) for j, s in zip(shipped, lag, strict=True)
            ],
        },
    )
    # Payment cards: none, one or two per customer; UnionPay for zh_CN, Visa/MC for en_US.
    per_card = rng.choice(3, size=k, p=[0.25, 0.55, 0.20])
    holder = np.repeat(np.arange(k), per_card).tolist()
    is_us = [c["locale"][i] == "en_US" for i in holder]
    zh_cards = iter(v.bank_cards(len(holder) - sum(is_us)))
    us_cards = iter(v.us_cards(sum(is_us)))
    cards = [next(us_cards) if us else next(zh_cards) for us in is_us]
    payment_cards = Batch(
        "payment_cards",
        {
            "id": list(range(ids.card, ids.card + len(holder))),
            "customer_id": [c["id"][i] for i in holder],
            "card_no": [number for number, _b in cards],
            "bank": [bank for _n, bank in cards],
            "card_type": [
                "credit" if x else "debit" for x in (rng.random(len(holder)) < 0.35).tolist()
            ],
            "holder_name": [c["name"][i] for i in holder],
            "expiry": v.card_expiries(len(holder)),
        },
    )
    ids.card += len(holder)
    tickets = _tickets(v, people, owner, order_ids, created, agents, ids, shape)
    return [orders, waybills, payment_cards, tickets]


# Ticket notes as staff write them; about a third paste personal data into free text.
_NOTES: tuple[str, ...] = (
    "客户来电反映包裹未收到，已联系{courier}催件。",
    "客户情绪激动，要求主管回电。",
    "已按流程办理，客户表示满意。",
    "退款至尾号{last4}的银行卡，预计3个工作日到账。",
    "客户反馈商品破损，已安排补发。",
    "客户要求修改收货地址为{address}，已同步仓库。",
    "客户留的备用电话{mobile}，请回电。",
    "实名核验：身份证{id_card}，与下单人一致。",
    "客户称卡号{card}被重复扣款，已提交财务核实。",
    "发票抬头已更新，税号{uscc}。",
    "快递员{courier_name}电话{courier_mobile}联系不上，客户投诉。",
    "Customer asked for a callback on {mobile} about the refund.",
)


def _tickets(
    v: Values,
    people: Batch,
    owner: list[int],
    order_ids: list[int],
    order_created: list[datetime],
    agents: list[int],
    ids: _Counters,
    shape: CompanyShape,
) -> Batch:
    """Support tickets of one chunk, each about one of the customer's orders when they have
    one, assigned to a customer-service employee."""
    rng = v.rng
    c = people.columns
    per = rng.poisson(shape.tickets_per_customer, len(people))
    who = np.repeat(np.arange(len(people)), per).tolist()
    t = len(who)
    orders_of: dict[int, list[int]] = {}
    for j, i in enumerate(owner):
        orders_of.setdefault(i, []).append(j)
    pick = rng.random(t).tolist()
    about = [
        orders_of[i][int(p * len(orders_of[i]))] if i in orders_of else None
        for i, p in zip(who, pick, strict=True)
    ]
    base = [
        order_created[j] if j is not None else c["created_at"][i]
        for i, j in zip(who, about, strict=True)
    ]
    delay = rng.integers(3600, 20 * 86400, t).tolist()
    opened = [min(b + timedelta(seconds=d), _NOW) for b, d in zip(base, delay, strict=True)]
    handling = rng.integers(3600, 7 * 86400, t).tolist()
    is_closed = (rng.random(t) < 0.8).tolist()
    closed = [
        o + timedelta(seconds=h) if done else None
        for o, h, done in zip(opened, handling, is_closed, strict=True)
    ]
    template = rng.integers(0, len(_NOTES), t).tolist()
    cards = v.bank_cards(t)
    fields = {
        "courier": [("顺丰", "京东物流", "圆通", "中通")[x % 4] for x in template],
        "mobile": v.mobiles(t),
        "address": [c["address"][i] for i in who],
        "id_card": [c["id_card"][i] for i in who],
        "card": [number for number, _b in cards],
        "last4": [number[-4:] for number, _b in cards],
        "uscc": v.usccs(t),
        "courier_name": v.cn_names(t),
        "courier_mobile": v.mobiles(t),
    }
    notes = [
        _NOTES[x].format(**{key: values[j] for key, values in fields.items()})
        for j, x in enumerate(template)
    ]
    first = ids.ticket
    ids.ticket += t
    return Batch(
        "tickets",
        {
            "id": list(range(first, first + t)),
            "customer_id": [c["id"][i] for i in who],
            "order_id": [order_ids[j] if j is not None else None for j in about],
            "assigned_employee_id": [agents[x] for x in rng.integers(0, len(agents), t).tolist()],
            "kind": v._pick(t, _TICKET_KINDS),
            "status": ["closed" if done else "open" for done in is_closed],
            "opened_at": opened,
            "closed_at": closed,
            "notes": notes,
        },
    )


def iter_company(
    customers: int, seed: int = 0, *, batch_size: int = 5000, shape: CompanyShape = CompanyShape()
) -> Iterator[Batch]:
    """Every row of a company of ``customers`` customers, table by table in foreign-key order
    within each chunk, in batches of at most ``batch_size`` rows.  Memory is bounded by one
    chunk (``CHUNK`` customers and their activity), whatever ``customers`` is."""
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    staff = _employees(seed, employee_count(customers))
    yield from staff.split(batch_size)
    agents = [
        i
        for i, dept, gone in zip(
            staff.columns["id"],
            staff.columns["department"],
            staff.columns["leave_date"],
            strict=True,
        )
        if dept == "客服" and gone is None
    ]
    ids = _Counters()
    for chunk in range(math.ceil(customers / CHUNK)):
        people = customer_columns(seed, chunk, shape)
        keep = min(CHUNK, customers - chunk * CHUNK)
        if keep < CHUNK:
            people = next(people.split(keep))
        yield from people.split(batch_size)
        for batch in _activity(seed, chunk, people, agents, ids, shape):
            yield from batch.split(batch_size)
