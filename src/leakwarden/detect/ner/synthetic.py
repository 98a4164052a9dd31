"""Seeded synthetic record/log lines with known name and address spans.

Real corpora are news sentences (CLUENER) and bare addresses (cn-address); the engine mostly sees
customer records and logs ("收件人：张伟，电话138...，地址：浙江省...").  These generators fill
templates of that kind with a person name and an address and remember where they put them.
Chinese lines are used for training (Faker zh_CN names, training-split addresses) and, with other
seeds, held-out names and held-out addresses, for a separate evaluation.  Latin lines (Faker en_US
/ en_GB) only evaluate the Latin rules; nothing learns from them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from leakwarden.detect.ner.corpora import ADDR, PER, Example, Span

# {n} = person name, {a} = address, {p} = mobile, {d} = date, {o} = order number.
ZH_TEMPLATES: tuple[str, ...] = (
    "收件人：{n}，电话{p}，地址：{a}",
    "收件人:{n} 手机:{p} 收货地址:{a}",
    "{n} {p} {a}",
    "{n},{p},{a}",
    "{n}\t{p}\t{a}",
    "姓名：{n}\n地址：{a}",
    "客户{n}（{p}）的包裹已送达{a}",
    "[INFO] {d} order={o} consignee={n} addr={a}",
    "{d} WARN 用户{n}修改收货地址为{a}",
    "联系人：{n}；联系电话：{p}；详细地址：{a}",
    "寄件人 {n} 寄往 {a}",
    "配送员反馈{n}不在家，{a}无人签收",
    "请{n}到{a}领取快递",
    '{{"name": "{n}", "mobile": "{p}", "address": "{a}"}}',
    "name={n}&phone={p}&address={a}",
    "订单{o}：买家{n}，收货地址{a}，备注：放门卫",
    "{n}先生您好，您的订单将于明天送至{a}",
    "经办人{n}，身份证已核验，户籍地址{a}",
    "投诉人{n}称{a}的快递柜损坏",
    "{a} {n} {p}",
    "{a}（{n}收）",
    "员工{n}，部门：财务部，入职日期{d}",
    "{n}于{d}登录系统",
    "当前用户：{n}",
    "地址：{a}",
    "退货地址 {a}，联系人 {n}",
    "昨天{n}搬到了{a}",
    "据{n}介绍，事发时他正在{a}附近",
    "{n}表示，公司将在{a}设立办事处",
    "我叫{n}，住在{a}",
    "{n}今年35岁，家住{a}",
    "记者从{a}获悉，{n}已被警方控制",
    "{d} 14:02:11,532 INFO [delivery] 派送成功 签收人={n} 地址={a}",
    "客户姓名|{n}|联系方式|{p}|地址|{a}",
    "<name>{n}</name>",
    "('{o}', '{n}', '{a}')",
    "{n}（{p}）",
    "工单{o}：{n}来电反映{a}附近的网点无人接听",
    "申请人{n}的户籍所在地为{a}",
    "送货地址是{a}，收货人是{n}",
    "{a}，{n}，{p}",
    "转账人：{n} 备注：房租",
    "{n}的快递已放在{a}",
    "家庭住址: {a}",
)

# Formats that never appear in training: the evaluation reports them apart ("unseen templates").
ZH_UNSEEN_TEMPLATES: tuple[str, ...] = (
    "收货人姓名 {n} 收货人电话 {p} 收货人地址 {a}",
    "{d} 10:21:07 [order-svc] DEBUG receiver={n}|{p}|{a}",
    "顾客{n}反映，送到{a}的包裹破损",
    "户主：{n}　住址：{a}",
    "INSERT INTO orders VALUES ('{o}', '{n}', '{p}', '{a}');",
    "您好{n}，您在{d}下单的商品已由{a}的门店发出",
    "乘客{n}的行程终点为{a}",
    "<receiver>{n}</receiver><addr>{a}</addr>",
)

ZH_NEGATIVES: tuple[str, ...] = (
    "订单{o}已发货，预计{d}送达",
    "[ERROR] {d} 连接数据库超时，重试第3次",
    "支付成功，金额128.00元，流水号{o}",
    "系统将于今晚23:00进行维护",
    "用户修改了密码，请注意账户安全",
    "快递员已取件，运单号{o}",
    "本商品七天无理由退货",
    "{d} INFO 同步任务完成，共处理1523条记录",
)


def _mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def _date(rng: random.Random) -> str:
    return f"20{rng.randint(15, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _order(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(10, 16)))


_SLOT = re.compile(r"\{\{|\}\}|\{([napdo])\}")


def fill(template: str, values: dict[str, str]) -> Example:
    """Fill a template; the spans of ``{n}`` (PER) and ``{a}`` (ADDR) are recorded."""
    out: list[str] = []
    spans: list[Span] = []
    pos = 0
    length = 0
    for m in _SLOT.finditer(template):
        lit = template[pos : m.start()]
        out.append(lit)
        length += len(lit)
        tok = m.group(0)
        if tok in ("{{", "}}"):
            out.append(tok[0])
            length += 1
        else:
            value = values[m.group(1)]
            if m.group(1) in "na":
                spans.append(Span(PER if m.group(1) == "n" else ADDR, length, length + len(value)))
            out.append(value)
            length += len(value)
        pos = m.end()
    out.append(template[pos:])
    return Example("".join(out), tuple(spans), "synthetic")


def zh_records(
    count: int,
    seed: int,
    names: Callable[[random.Random], str],
    addresses: Sequence[str],
    negatives: float = 0.1,
    templates: Sequence[str] = ZH_TEMPLATES,
) -> list[Example]:
    """``count`` Chinese record/log lines; about ``negatives`` of them hold no name or address."""
    rng = random.Random(seed)
    out: list[Example] = []
    for _ in range(count):
        values = {
            "n": names(rng),
            "a": rng.choice(addresses),
            "p": _mobile(rng),
            "d": _date(rng),
            "o": _order(rng),
        }
        template = rng.choice(ZH_NEGATIVES if rng.random() < negatives else templates)
        ex = fill(template, values)
        out.append(Example(ex.text, ex.spans, "synthetic-zh"))
    return out


def faker_zh_names(seed: int) -> Callable[[random.Random], str]:
    """A name generator over Faker's zh_CN person lists (Faker imported lazily: it is heavy)."""
    from faker import Faker

    fake = Faker("zh_CN")
    fake.seed_instance(seed)

    def draw(rng: random.Random) -> str:
        name: str = fake.name()
        return name

    return draw


# --- Latin -------------------------------------------------------------------------------------

LATIN_TEMPLATES: tuple[str, ...] = (
    "Name: {n}\nAddress: {a}",
    "Dear {n},\nYour order has shipped to {a}.",
    "Customer {n} called about order {o}.",
    "Ship to: {n}, {a}",
    "{n} <customer@example.com> wrote on {d}",
    "Best regards,\n{n}",
    "Contact {n} at {p} for delivery.",
    "{d} INFO user={o} updated shipping address to {a}",
    "Billing address: {a}",
    "Recipient: {n}; phone {p}",
    "Please send the documents to {a} before Friday.",
    "Yesterday {n} moved to {a}.",
    "{n},{p},{a}",
)

LATIN_NEGATIVES: tuple[str, ...] = (
    "Order {o} shipped on {d} via UPS Ground.",
    "The service restarted at 02:00 after a timeout.",
    "Main Street Bridge is closed for repairs until June.",
    "Payment of $128.00 received, reference {o}.",
    "Please review the attached report before the meeting.",
)


def latin_records(
    count: int, seed: int, locale: str, negatives: float = 0.15, name_locale: str | None = None
) -> list[Example]:
    """``count`` English record/log lines: names and one-line addresses from Faker ``locale``."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    names = Faker(name_locale) if name_locale else fake
    names.seed_instance(seed)
    rng = random.Random(seed)
    out: list[Example] = []
    for _ in range(count):
        address = ""
        while not address or "APO" in address or "FPO" in address or "DPO" in address:
            address = fake.address().replace("\n", ", ")
        values = {
            "n": f"{names.first_name()} {names.last_name()}",
            "a": address,
            "p": fake.phone_number(),
            "d": _date(rng),
            "o": _order(rng),
        }
        template = rng.choice(LATIN_NEGATIVES if rng.random() < negatives else LATIN_TEMPLATES)
        ex = fill(template, values)
        out.append(Example(ex.text, ex.spans, f"synthetic-{name_locale or locale}-{locale}"))
    return out
