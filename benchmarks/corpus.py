"""The benchmark corpus: seeded, mixed Chinese and English documents (log lines, customer-service
chat, order notes, key/value records, JSON snippets) with ground-truth spans.

Half the records (``BACKGROUND_SHARE``) hold no personal information, as in real logs and chats;
the density of labelled values is reported with every result.  Labelled values come from
``leakwarden.demo.values`` (with ``benchmarks.values`` for what it lacks, or for everything when
the demo package is absent); every near miss (wrong check digit, impossible date, 17-digit run,
order number, timestamp) is left unlabelled, so a detector that reports it pays in precision.
Hard cases are built in: numbers written straight after or before CJK characters
(``身份证11010519491231002X``) and full-width digits (``１３８００１３８０００``).  Each span
records its ``variant`` (plain, cjk_adjacent, fullwidth) so results can be broken down by it.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from benchmarks import values

SLOT = re.compile(r"<<([a-z_]+)>>")

# Templates: ``<<slot>>`` is a generated value.  A slot named after a type id (or person_name_*,
# address_*, dob_*) is labelled; a slot named after a near miss or filler is not.
TEMPLATES_ZH: tuple[str, ...] = (
    "<<ts>> INFO order-svc 用户下单 uid=<<uid>> 手机号<<cn_mobile>> 订单号<<order_number>> "
    "金额<<amount>>元",
    "<<ts>> WARN kyc 实名认证失败 姓名=<<person_name_zh>> 身份证号=<<bad_resident_id>> "
    "原因=校验位错误",
    "<<ts>> INFO kyc 实名认证通过 身份证<<cn_resident_id>>，手机<<cn_mobile>>",
    "客户：你好，我的快递<<express_waybill>>三天了还没到，电话<<cn_mobile>>，麻烦查一下",
    "客服：您好，请提供下单时预留的手机号和收货地址。",
    "客户：手机号是<<cn_mobile>>，地址<<address_zh>>，收件人<<person_name_zh>>。",
    "客户：我的身份证号是<<cn_resident_id>>，银行卡<<bank_card>>，帮我退款到这张卡。",
    "客服：已为您登记，退款单号<<order_number>>，预计<<amount>>元三个工作日内到账。",
    "收件人：<<person_name_zh>>，电话：<<cn_mobile>>，地址：<<address_zh>>，运单号：<<express_waybill>>",
    "备注：客户要求改派，新联系电话<<cn_landline>>，原订单<<order_number>>下单时间<<ts>>",
    "备注：车辆<<cn_license_plate>>进入园区，司机<<person_name_zh>>，联系方式<<cn_mobile>>",
    "备注：单位统一社会信用代码<<cn_uscc>>，开票抬头已核对，客户经理<<person_name_zh>>",
    "备注：企业信用代码<<bad_uscc>>校验未通过，请重新提交",
    "护照号码：<<cn_passport>>，港澳通行证：<<cn_hk_macau_permit>>，出生日期：<<dob_zh>>",
    "持卡人<<person_name_zh>>卡号<<bank_card>>交易<<amount>>元，流水号<<order_number>>",
    "卡号<<bad_bank_card>>校验失败，交易已拒绝",
    "用户<<uid>>登录IP：<<ip_address>>，设备MAC：<<mac_address>>，时间戳<<ts>>",
    "手机号<<bad_mobile>>格式错误，短信未发送",
    "证件号<<bad_resident_id>>无效，请核对后重新输入",
    '{"姓名": "<<person_name_zh>>", "身份证": "<<cn_resident_id>>", "手机": "<<cn_mobile>>", '
    '"邮箱": "<<email>>", "下单时间": "<<ts>>"}',
    '{"order_id": "<<order_number>>", "receiver": "<<person_name_zh>>", '
    '"phone": "<<cn_mobile>>", "addr": "<<address_zh>>", "amount": <<amount>>}',
    "name=<<person_name_zh>>|id_no=<<cn_resident_id>>|mobile=<<cn_mobile>>|"
    "card=<<bank_card>>|ts=<<ts>>",
)
TEMPLATES_EN: tuple[str, ...] = (
    "<<ts>> INFO auth login ok user=<<email>> ip=<<ip_address>> uid=<<uid>>",
    "<<ts>> ERROR payment declined card=<<bad_bank_card>> amount=<<amount>> ref=<<order_number>>",
    "<<ts>> INFO payment captured card=<<bank_card>> amount=<<amount>> ref=<<order_number>>",
    "<<ts>> DEBUG net dhcp lease mac=<<mac_address>> ip=<<ip_address>>",
    "<<ts>> INFO sepa transfer iban=<<iban>> amount=<<amount>> EUR",
    "<<ts>> WARN sepa rejected iban=<<bad_iban>> reason=checksum",
    "Customer: Hi, I'm <<person_name_en>>, my order <<order_number>> never arrived.",
    "Agent: Sorry about that. Can you confirm your phone number and email?",
    "Customer: Sure, it's <<phone>> and <<email>>.",
    "Customer: My SSN is <<us_ssn>> and I was born on <<dob_en>>.",
    "Agent: The SSN <<bad_ssn>> you entered is not valid, please check it.",
    "Note: ship to <<person_name_en>>, <<address_en>>, call <<phone>> before delivery.",
    "Note: refund to IBAN <<iban>>, account holder <<person_name_en>>.",
    "Note: card on file <<bank_card>>, billing contact <<email>>.",
    "name=<<person_name_en>>;ssn=<<us_ssn>>;dob=<<dob_en>>;phone=<<phone>>;ts=<<ts>>",
    '{"customer": "<<person_name_en>>", "email": "<<email>>", "phone": "<<phone>>", '
    '"card": "<<bank_card>>", "created": "<<ts>>"}',
    '{"event": "vpn_connect", "src_ip": "<<ip_address>>", "mac": "<<mac_address>>", '
    '"session": "<<order_number>>"}',
)

# Records without personal information, as most lines of real logs and chats are.  They still
# hold numbers (timestamps, order numbers, amounts, versions, latencies) a detector must pass by.
TEMPLATES_BACKGROUND: tuple[str, ...] = (
    "<<ts>> INFO order-svc 订单状态变更 order=<<order_number>> status=SHIPPED 耗时<<uid>>ms",
    "<<ts>> DEBUG cache 命中率 97.3% keys=<<uid>> evicted=12 版本v2.13.4",
    "<<ts>> INFO gateway GET /api/v1/orders?page=3&size=50 200 <<uid>>us",
    "<<ts>> WARN stock 库存不足 sku=SKU-<<uid>>-BLK 仓库=华东二仓 剩余3件",
    "客服：好的，请您稍等，我这边帮您查询一下物流信息。",
    "客户：好的，谢谢，麻烦尽快处理，周末之前能到就行。",
    "客服：非常抱歉给您带来不便，已为您加急处理，预计明天送达。",
    "备注：商品已打包，等待揽收，包裹重量1.25kg，体积30x20x15cm。",
    "备注：促销活动满300减50，已自动抵扣<<amount>>元，订单<<order_number>>无需人工处理。",
    '{"event": "page_view", "path": "/item/<<uid>>", "ms": 182, "ts": "<<ts>>"}',
    "<<ts>> INFO worker job=<<order_number>> finished in 3.2s rows=<<uid>> retries=0",
    "<<ts>> ERROR db deadlock detected, retrying transaction (attempt 2 of 5)",
    "Agent: Thanks for waiting. Your parcel left our warehouse this morning.",
    "Customer: Great, thank you so much for the quick help!",
    "Note: gift wrap requested; deliver between 9am and 6pm on weekdays.",
    "Note: order <<order_number>> total <<amount>> USD, paid, awaiting shipment.",
)
BACKGROUND_SHARE = 0.5

# Slot -> (label or None, generator).  Names and addresses come from Faker per document.
LABELLED_ALIASES = {
    "person_name_zh": "person_name",
    "person_name_en": "person_name",
    "address_zh": "address",
    "address_en": "address",
    "dob_zh": "date_of_birth",
    "dob_en": "date_of_birth",
}
# Types whose value may be written in full-width characters inside Chinese text.
FULLWIDTH_TYPES = frozenset({"cn_resident_id", "cn_mobile", "bank_card", "cn_landline"})
FULLWIDTH_RATE = 0.08


@dataclass(frozen=True, slots=True)
class Span:
    """A ground-truth value: ``text[start:end]`` (characters, end exclusive) is a ``type``."""

    type: str
    start: int
    end: int
    variant: str  # plain | cjk_adjacent | fullwidth


@dataclass
class Document:
    text: str
    spans: list[Span] = field(default_factory=list)

    @cached_property
    def data(self) -> bytes:
        return self.text.encode("utf-8")


@dataclass
class Corpus:
    seed: int
    documents: list[Document]
    value_source: str = ""
    background_share: float = BACKGROUND_SHARE

    @property
    def n_bytes(self) -> int:
        return sum(len(d.data) for d in self.documents)

    @property
    def n_spans(self) -> int:
        return sum(len(d.spans) for d in self.documents)

    def type_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in self.documents:
            for span in doc.spans:
                counts[span.type] = counts.get(span.type, 0) + 1
        return dict(sorted(counts.items()))

    def save_texts(self, path: Path) -> None:
        """The texts only (what a detector may see), one JSON array, for worker processes."""
        path.write_text(json.dumps([d.text for d in self.documents], ensure_ascii=False), "utf-8")

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "documents": [
                {"text": d.text, "spans": [asdict(s) for s in d.spans]} for d in self.documents
            ],
        }


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x3000 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF


def to_fullwidth(text: str) -> str:
    """ASCII digits and letters to their full-width forms (U+FF10.., U+FF21..); same length."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


class _Filler:
    """Per-corpus generators: values, near misses, Faker names and addresses, small fillers."""

    def __init__(self, rng: random.Random, seed: int, use_demo: bool = True) -> None:
        from faker import Faker  # heavy import, only when a corpus is built

        self.rng = rng
        self.fake_zh = Faker("zh_CN")
        self.fake_zh.seed_instance(seed)
        self.fake_en = Faker("en_US")
        self.fake_en.seed_instance(seed + 1)
        self.generators: dict[str, Callable[[], str]] = {
            name: functools.partial(g, rng)
            for name, g in (*values.VALID.items(), *values.NEAR_MISS.items())
        }
        self.generators["ts"] = lambda: values.timestamp(rng)
        self.generators["uid"] = lambda: str(rng.randint(1000, 99999))
        self.generators["person_name_zh"] = lambda: str(self.fake_zh.name())
        self.generators["person_name_en"] = lambda: str(self.fake_en.name())
        self.generators["address_zh"] = lambda: str(self.fake_zh.address()).rsplit(" ", 1)[0]
        self.generators["address_en"] = lambda: str(self.fake_en.address()).replace("\n", ", ")
        self.generators["dob_zh"] = lambda: values.date_of_birth_zh(rng)
        self.generators["dob_en"] = lambda: values.date_of_birth_en(rng)
        self.source = "benchmarks.values + Faker"
        if use_demo and (demo := values.demo_generators(seed)) is not None:
            self.generators.update({name: functools.partial(g, rng) for name, g in demo.items()})
            self.source = "leakwarden.demo.values (JT waybills, non-US phones: benchmarks.values)"

    def label(self, slot: str) -> str | None:
        if slot in values.VALID:
            return slot
        return LABELLED_ALIASES.get(slot)


def render(template: str, filler: _Filler, chinese: bool) -> tuple[str, list[tuple[str, int, int]]]:
    """Fill one template; return the text and its labelled (type, start, end) spans."""
    parts: list[str] = []
    spans: list[tuple[str, int, int]] = []
    pos = 0
    last = 0
    for m in SLOT.finditer(template):
        literal = template[last : m.start()]
        parts.append(literal)
        pos += len(literal)
        slot = m.group(1)
        value = filler.generators[slot]()
        label = filler.label(slot)
        if label in FULLWIDTH_TYPES and chinese and filler.rng.random() < FULLWIDTH_RATE:
            value = to_fullwidth(value)
        if label is not None:
            spans.append((label, pos, pos + len(value)))
        parts.append(value)
        pos += len(value)
        last = m.end()
    parts.append(template[last:])
    return "".join(parts), spans


def _variant(text: str, start: int, end: int) -> str:
    if any(0xFF10 <= ord(c) <= 0xFF5A for c in text[start:end]):
        return "fullwidth"
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if (before and is_cjk(before) and before not in "：，。") or (
        after and is_cjk(after) and after not in "：，。"
    ):
        return "cjk_adjacent"
    return "plain"


def iter_documents(
    seed: int,
    doc_bytes: int = 8192,
    use_demo: bool = True,
    filler: _Filler | None = None,
    background_share: float = BACKGROUND_SHARE,
) -> Iterator[Document]:
    """An endless, seeded stream of documents of about ``doc_bytes`` UTF-8 bytes each.

    A document is a run of records: ``background_share`` of them carry no personal
    information; of the rest, two thirds are Chinese templates and one third English.
    """
    if not 0.0 <= background_share < 1.0:
        raise ValueError(f"background_share must be in [0, 1), got {background_share}")
    if filler is None:
        filler = _Filler(random.Random(seed), seed, use_demo)
    rng = filler.rng
    while True:
        lines: list[str] = []
        spans: list[Span] = []
        offset = 0
        size = 0
        while size < doc_bytes:
            if rng.random() < background_share:
                template = rng.choice(TEMPLATES_BACKGROUND)
                chinese = any(is_cjk(c) for c in template)
            else:
                chinese = rng.random() < 2 / 3
                template = rng.choice(TEMPLATES_ZH if chinese else TEMPLATES_EN)
            line, line_spans = render(template, filler, chinese)
            for label, start, end in line_spans:
                spans.append(Span(label, offset + start, offset + end, _variant(line, start, end)))
            lines.append(line)
            offset += len(line) + 1
            size += len(line.encode("utf-8")) + 1
        yield Document("\n".join(lines) + "\n", spans)


def build_corpus(
    size_bytes: int,
    seed: int = 20261123,
    doc_bytes: int = 8192,
    use_demo: bool = True,
    background_share: float = BACKGROUND_SHARE,
) -> Corpus:
    """Documents until their UTF-8 size reaches ``size_bytes`` (at least one document).

    ``use_demo``: take values from ``leakwarden.demo.values`` when it is importable."""
    if size_bytes <= 0:
        raise ValueError(f"corpus size must be positive, got {size_bytes} bytes")
    docs: list[Document] = []
    total = 0
    filler = _Filler(random.Random(seed), seed, use_demo)
    for doc in iter_documents(
        seed, min(doc_bytes, size_bytes), filler=filler, background_share=background_share
    ):
        docs.append(doc)
        total += len(doc.data)
        if total >= size_bytes:
            break
    return Corpus(
        seed=seed, documents=docs, value_source=filler.source, background_share=background_share
    )
