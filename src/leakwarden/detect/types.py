"""The registry of personal-information types: ``PI_TYPES``, the one definition the project uses.

Each entry says how to recognise the type (Hyperscan patterns over the normalised UTF-8 text, a
validator from ``validators``, context words in Chinese and English), how sensitive it is under
GB/T 35273-2020 (annex A personal information, annex B sensitive personal information), which
column headers hint at it, and how to mask it by default.

Sensitivity follows GB/T 35273-2020: identity documents (resident ID, passport, permits, SSN),
financial accounts (bank cards, IBAN) are annex B sensitive; name, birthday, address (住址),
telephone numbers, e-mail, IP/MAC (device and network identifiers), plates and waybills are annex A
personal information.  None is a GDPR art. 9 special category.

Engine knobs in ``PIType.extra`` (all optional, strings because ``extra`` is ``dict[str, str]``):

``needs_context``
    A Python regular expression; a candidate that *fully* matches it is only reported when a
    context word of the type stands near it (weak shapes: bare digit runs, passports).
    ``(?s).*`` means every candidate needs context.
``anti_context``
    Words separated by ``|`` that name some other identifier (``订单号|编号|order``): a candidate
    right after one of them (within 16 bytes, same line) and without a context word of its own
    is not reported: "订单号 6222…" is an order number that happens to pass Luhn.
``joiners``
    Characters that glue tokens: a candidate preceded by ``joiner + letter/digit`` or followed
    by ``joiner + letter/digit`` is part of something longer (``1.2.3.4.5`` is no IP address).

Default mask syntax (``PIType.default_mask``; interpreted by ``leakwarden.protect``, checked here
by :func:`parse_mask`):

``redact``
    Replace the whole value by a placeholder naming the type.
``keep:A,B``
    Keep the first A and the last B characters; every other letter or digit becomes ``*``,
    separators (space, ``-``, ``.``, ``·``, ``(``, ``)``) stay.  ``keep:3,4``: 138****5678.
``email:A``
    Keep A characters of the local part and the whole domain: ``z***@example.com``.
``ip:N``
    Keep the first N groups of an IP address (octets or IPv6 groups): ``ip:2`` → 192.168.*.*.
``year``
    Keep the year of a date, mask month and day: ``1990-**-**``.
``address``
    Keep the administrative divisions up to the district/county (省/市/区/县) level, mask the
    rest (street, building, room); for Latin addresses keep city, region and postcode.
``name``
    A person's name: Chinese names keep the first and, from three characters, the last
    character (``张*``, ``张*明``); Latin names keep the first letter of each word.
``full``
    Every letter and digit becomes ``*``, separators stay (same length, nothing kept).

``leakwarden.protect.masking`` implements every one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from leakwarden.detect import validators as v
from leakwarden.detect.model import PIType, Sensitivity

__all__ = [
    "PI_TYPES",
    "MaskSpec",
    "get_type",
    "header_hint",
    "parse_mask",
    "types_for_header",
]

P = Sensitivity.PERSONAL
S = Sensitivity.SENSITIVE

ALWAYS = "(?s).*"

# Province-level abbreviations on plates (GA 36), plus 使/领 for embassy and consulate plates.
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
_DAY = r"(?:0[1-9]|[12][0-9]|3[01])"
_MONTH = r"(?:0[1-9]|1[0-2])"
_BIRTH = rf"(?:18|19|20)[0-9]{{2}}{_MONTH}{_DAY}"
_USCC_CHAR = "[0-9A-HJ-NPQRTUWXY]"
_HEX = "[0-9A-Fa-f]"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# Labels of identifiers that are not personal information, used as anti-context for the types
# whose validation is weak on random digits (Luhn passes one number in ten).
_OTHER_IDS = (
    "订单|订单号|订单编号|单号|编号|流水号|交易号|交易流水|商品编码|商品编号|条码|序列号|工单|"
    "批次|批号|库存|数量|金额|版本|order|order_id|order no|sku|serial|trace|txn|transaction|"
    "invoice|ts=|timestamp|build|version|session|request_id|req_id|id|uid|pid"
)
# Countries of the SWIFT IBAN registry (python-stdnum's copy), so "DD2818..." is no candidate.
_IBAN_COUNTRY = "(?:" + "|".join(sorted(v.iban_countries())) + ")"
_MONTH_NAME = (
    r"(?:[Jj]an|[Ff]eb|[Mm]ar|[Aa]pr|[Mm]ay|[Jj]un|[Jj]ul|[Aa]ug|[Ss]ep|[Oo]ct|[Nn]ov|[Dd]ec)"
    r"[a-z]{0,6}\.?"
)

_TYPES: tuple[PIType, ...] = (
    PIType(
        id="cn_resident_id",
        label_en="PRC resident identity card number",
        label_zh="居民身份证号码",
        sensitivity=S,
        patterns=(
            rf"[1-9][0-9]{{5}}{_BIRTH}[0-9]{{3}}[0-9Xx]",
            rf"[1-9][0-9]{{5}} {_BIRTH} [0-9]{{3}}[0-9Xx]",
            rf"[1-9][0-9]{{5}}[0-9]{{2}}{_MONTH}{_DAY}[0-9]{{3}}",  # 15-digit legacy
        ),
        validator=v.cn_resident_id_ok,
        context=(
            "身份证",
            "身份证号",
            "证件号",
            "证件号码",
            "公民身份号码",
            "身份号码",
            "居民身份证",
            "id card",
            "id no",
            "id number",
            "identity",
            "resident id",
            "idcard",
            "id_card",
            "id_no",
            "national id",
        ),
        header_hints=(
            "身份证",
            "身份证号",
            "身份证号码",
            "证件号",
            "证件号码",
            "idcard",
            "id_card",
            "id_no",
            "id_number",
            "identity_no",
            "resident_id",
            "sfz",
            "sfzh",
        ),
        default_mask="keep:6,4",
        base_score=0.5,
        validated_score=0.95,
        extra={"needs_context": r"\d{15}"},
    ),
    PIType(
        id="cn_mobile",
        label_en="PRC mobile phone number",
        label_zh="手机号码",
        sensitivity=P,
        patterns=(r"(?:(?:\+|00)?86[ -]?)?1[3-9][0-9](?:[0-9]{8}|[ -][0-9]{4}[ -][0-9]{4})",),
        validator=v.cn_mobile_ok,
        context=(
            "手机",
            "手机号",
            "电话",
            "联系方式",
            "联系电话",
            "致电",
            "短信",
            "tel",
            "phone",
            "mobile",
            "cell",
            "contact",
        ),
        header_hints=(
            "手机号",
            "手机",
            "手机号码",
            "电话",
            "联系电话",
            "联系方式",
            "mobile",
            "phone",
            "cellphone",
            "cell",
            "tel",
            "telephone",
            "contact",
        ),
        default_mask="keep:3,4",
        base_score=0.5,
        validated_score=0.85,
        extra={"anti_context": _OTHER_IDS},
    ),
    PIType(
        id="cn_landline",
        label_en="PRC landline number",
        label_zh="固定电话号码",
        sensitivity=P,
        patterns=(
            r"(?:\(0[1-9][0-9]{1,2}\) ?|0[1-9][0-9]{1,2}[ -])"
            r"(?:[1-9][0-9]{6,7}|[1-9][0-9]{2,3}[ -][0-9]{4})",
            r"0[1-9][0-9]{8,10}",
        ),
        validator=v.cn_landline_ok,
        context=(
            "电话",
            "座机",
            "固话",
            "固定电话",
            "联系电话",
            "办公电话",
            "传真",
            "tel",
            "phone",
            "telephone",
            "landline",
            "fax",
            "office",
        ),
        header_hints=(
            "座机",
            "固话",
            "固定电话",
            "电话",
            "联系电话",
            "办公电话",
            "传真",
            "landline",
            "tel",
            "telephone",
            "phone",
            "fax",
        ),
        default_mask="keep:4,4",
        base_score=0.4,
        validated_score=0.7,
        extra={"needs_context": r"\d+"},
    ),
    PIType(
        id="bank_card",
        label_en="bank card number",
        label_zh="银行卡号",
        sensitivity=S,
        patterns=(
            r"(?:[2-689][0-9]{12,18}|1800[0-9]{11}|2131[0-9]{11})",  # no scheme starts 0/1/7
            r"[0-9]{4}(?:[ -][0-9]{4}){2,3}(?:[ -][0-9]{1,4})?",
            r"[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}",
        ),
        validator=v.bank_card_ok,
        context=(
            "银行卡",
            "卡号",
            "银行账号",
            "账号",
            "借记卡",
            "信用卡",
            "储蓄卡",
            "银联",
            "开户行",
            "card",
            "credit card",
            "debit",
            "visa",
            "mastercard",
            "unionpay",
            "account",
        ),
        header_hints=(
            "银行卡",
            "银行卡号",
            "卡号",
            "银行账号",
            "账号",
            "信用卡",
            "card_no",
            "card_number",
            "bank_card",
            "credit_card",
            "cardno",
            "pan",
        ),
        default_mask="keep:4,4",
        base_score=0.3,
        validated_score=0.85,
        extra={"anti_context": _OTHER_IDS},
    ),
    PIType(
        id="cn_passport",
        label_en="PRC passport number",
        label_zh="护照号码",
        sensitivity=S,
        patterns=(r"[EG][0-9]{8}", r"E[A-HJ-NP-Z][0-9]{7}", r"[DSP]E?[0-9]{7,8}"),
        validator=v.cn_passport_ok,
        context=("护照", "护照号", "passport", "passport no", "travel document"),
        header_hints=("护照", "护照号", "护照号码", "passport", "passport_no", "passport_number"),
        default_mask="keep:1,3",
        base_score=0.2,
        validated_score=0.5,
        extra={"needs_context": ALWAYS},
    ),
    PIType(
        id="cn_hk_macau_permit",
        label_en="Exit-entry permit for Hong Kong and Macau",
        label_zh="往来港澳通行证号码",
        sensitivity=S,
        patterns=(r"C[0-9]{8}", r"C[A-HJ-NP-Z][0-9]{7}", r"W[0-9]{8}"),
        validator=v.cn_hk_macau_permit_ok,
        context=(
            "港澳通行证",
            "往来港澳",
            "通行证",
            "港澳",
            "hk macau permit",
            "two-way permit",
            "exit-entry permit",
            "permit",
        ),
        header_hints=("港澳通行证", "通行证", "通行证号", "hk_macau_permit", "permit_no"),
        default_mask="keep:1,3",
        base_score=0.2,
        validated_score=0.5,
        extra={"needs_context": ALWAYS},
    ),
    PIType(
        id="cn_uscc",
        label_en="Unified social credit code",
        label_zh="统一社会信用代码",
        sensitivity=P,
        patterns=(rf"[1-9A-GY][1-9][0-9]{{6}}{_USCC_CHAR}{{10}}",),
        validator=v.cn_uscc_ok,
        context=(
            "统一社会信用代码",
            "信用代码",
            "社会信用代码",
            "营业执照",
            "税号",
            "纳税人识别号",
            "uscc",
            "credit code",
            "tax id",
            "business license",
        ),
        header_hints=(
            "统一社会信用代码",
            "信用代码",
            "税号",
            "纳税人识别号",
            "uscc",
            "credit_code",
            "tax_id",
        ),
        default_mask="keep:2,4",
        base_score=0.3,
        validated_score=0.9,
        extra={"anti_context": _OTHER_IDS},
    ),
    PIType(
        id="cn_license_plate",
        label_en="PRC vehicle licence plate",
        label_zh="机动车号牌",
        sensitivity=P,
        patterns=(
            rf"[{_PROVINCES}][A-HJ-NP-Z][·• .-]?"
            r"(?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[学警挂])",
        ),
        validator=v.cn_license_plate_ok,
        context=(
            "车牌",
            "车牌号",
            "号牌",
            "牌照",
            "车辆",
            "车号",
            "plate",
            "licence plate",
            "license plate",
            "vehicle",
        ),
        header_hints=(
            "车牌",
            "车牌号",
            "车牌号码",
            "号牌",
            "plate",
            "plate_no",
            "license_plate",
            "car_no",
        ),
        default_mask="keep:2,2",
        base_score=0.4,
        validated_score=0.8,
    ),
    PIType(
        id="express_waybill",
        label_en="express waybill number",
        label_zh="快递运单号",
        sensitivity=P,
        patterns=(
            r"SF[0-9]{12,13}",
            r"JD[A-Z]{0,3}[0-9]{11,15}",
            r"YT[0-9]{13}",
            r"JT[0-9]{13}",
            r"[A-Z]{2}[0-9]{9}[A-Z]{2}",
            r"[0-9]{10,15}",
        ),
        validator=v.express_waybill_ok,
        context=(
            "运单",
            "运单号",
            "快递",
            "快递单号",
            "快递单",
            "物流",
            "物流单号",
            "单号",
            "顺丰",
            "中通",
            "圆通",
            "申通",
            "韵达",
            "京东物流",
            "极兔",
            "邮政",
            "waybill",
            "tracking",
            "express",
            "shipment",
            "courier",
        ),
        header_hints=(
            "运单号",
            "运单",
            "快递单号",
            "物流单号",
            "waybill",
            "waybill_no",
            "tracking_no",
            "tracking_number",
            "express_no",
        ),
        default_mask="keep:4,4",
        base_score=0.3,
        validated_score=0.8,
        extra={"needs_context": r"\d+"},
    ),
    PIType(
        id="email",
        label_en="e-mail address",
        label_zh="电子邮件地址",
        sensitivity=P,
        patterns=(
            r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}",
        ),
        validator=v.email_ok,
        context=("邮箱", "电子邮件", "电子邮箱", "邮件", "email", "e-mail", "mail"),
        header_hints=("邮箱", "电子邮箱", "电子邮件", "email", "e_mail", "mail", "email_address"),
        default_mask="email:1",
        base_score=0.5,
        validated_score=0.9,
    ),
    PIType(
        id="phone",
        label_en="telephone number (international)",
        label_zh="电话号码（国际）",
        sensitivity=P,
        patterns=(
            r"(?:\+|00)[1-9](?:[ .()-]{0,2}[0-9]){6,14}",
            r"(?:1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}"
            r"(?: ?(?:x|ext\.?) ?[0-9]{1,5})?",
        ),
        validator=v.phone_ok,
        context=(
            "电话",
            "手机",
            "联系方式",
            "phone",
            "tel",
            "telephone",
            "mobile",
            "cell",
            "call",
            "fax",
        ),
        header_hints=("电话", "phone", "phone_number", "telephone", "tel", "mobile", "contact"),
        default_mask="keep:4,4",
        base_score=0.4,
        validated_score=0.8,
        extra={"anti_context": _OTHER_IDS},
    ),
    PIType(
        id="ip_address",
        label_en="IP address",
        label_zh="IP地址",
        sensitivity=P,
        patterns=(
            rf"{_OCTET}(?:\.{_OCTET}){{3}}",
            rf"(?:{_HEX}{{0,4}}:){{3,7}}{_HEX}{{1,4}}",  # 3+ colons: not a time of day
            rf"(?:{_HEX}{{0,4}}:){{2,6}}{_OCTET}(?:\.{_OCTET}){{3}}",
        ),
        validator=v.ip_address_ok,
        context=(
            "ip",
            "ip地址",
            "地址",
            "登录",
            "访问",
            "client",
            "remote",
            "host",
            "source",
            "addr",
        ),
        header_hints=(
            "ip",
            "ip地址",
            "ip_address",
            "ip_addr",
            "client_ip",
            "remote_addr",
            "src_ip",
            "登录ip",
        ),
        default_mask="ip:2",
        base_score=0.4,
        validated_score=0.8,
        extra={"joiners": "."},
    ),
    PIType(
        id="mac_address",
        label_en="MAC address",
        label_zh="MAC地址",
        sensitivity=P,
        patterns=(
            rf"{_HEX}{{2}}(?::{_HEX}{{2}}){{5}}",
            rf"{_HEX}{{2}}(?:-{_HEX}{{2}}){{5}}",
            rf"{_HEX}{{4}}\.{_HEX}{{4}}\.{_HEX}{{4}}",
        ),
        validator=v.mac_address_ok,
        context=(
            "mac",
            "mac地址",
            "物理地址",
            "设备",
            "网卡",
            "device",
            "hardware address",
            "ether",
        ),
        header_hints=("mac", "mac地址", "mac_address", "mac_addr", "设备mac", "hwaddr"),
        default_mask="keep:8,0",
        base_score=0.4,
        validated_score=0.8,
        extra={"joiners": ":-."},
    ),
    PIType(
        id="iban",
        label_en="International Bank Account Number",
        label_zh="国际银行账号（IBAN）",
        sensitivity=S,
        patterns=(
            rf"{_IBAN_COUNTRY}[0-9]{{2}}[A-Z0-9]{{11,30}}",
            rf"{_IBAN_COUNTRY}[0-9]{{2}}(?: [A-Z0-9]{{4}}){{2,7}}(?: [A-Z0-9]{{1,3}})?",
        ),
        validator=v.iban_ok,
        context=("iban", "银行账号", "账号", "account", "bank account", "konto", "compte"),
        header_hints=("iban", "银行账号", "bank_account", "account_no", "account_number"),
        default_mask="keep:4,4",
        base_score=0.3,
        validated_score=0.95,
    ),
    PIType(
        id="us_ssn",
        label_en="US Social Security number",
        label_zh="美国社会安全号码",
        sensitivity=S,
        patterns=(r"[0-9]{3}-[0-9]{2}-[0-9]{4}", r"[0-9]{3} [0-9]{2} [0-9]{4}", r"[0-9]{9}"),
        validator=v.us_ssn_ok,
        context=("ssn", "social security", "社会安全号", "社保号", "social security number", "ss#"),
        header_hints=("ssn", "social_security", "social_security_number", "社会安全号"),
        default_mask="keep:0,4",
        base_score=0.3,
        validated_score=0.8,
        extra={"anti_context": _OTHER_IDS, "needs_context": r"\d{9}|\d{3} \d{2} \d{4}"},
    ),
    PIType(
        id="person_name",
        label_en="person's name",
        label_zh="姓名",
        sensitivity=P,
        context=(
            "姓名",
            "收件人",
            "联系人",
            "客户",
            "先生",
            "女士",
            "name",
            "customer",
            "contact",
            "mr",
            "mrs",
            "ms",
        ),
        header_hints=(
            "姓名",
            "收件人",
            "收货人",
            "联系人",
            "寄件人",
            "客户姓名",
            "用户名称",
            "name",
            "full_name",
            "first_name",
            "last_name",
            "customer_name",
            "recipient",
            "consignee",
        ),
        default_mask="name",
        base_score=0.6,
        validated_score=0.6,
    ),
    PIType(
        id="address",
        label_en="postal address",
        label_zh="住址",
        sensitivity=P,
        context=("地址", "住址", "收货地址", "家庭住址", "寄件地址", "address", "addr", "street"),
        header_hints=(
            "地址",
            "住址",
            "收货地址",
            "家庭住址",
            "详细地址",
            "寄件地址",
            "收件地址",
            "address",
            "addr",
            "street",
            "shipping_address",
            "home_address",
        ),
        default_mask="address",
        base_score=0.6,
        validated_score=0.6,
    ),
    PIType(
        id="date_of_birth",
        label_en="date of birth",
        label_zh="出生日期",
        sensitivity=P,
        patterns=(
            r"(?:19|20)[0-9]{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12][0-9]|3[01])",
            r"(?:19|20)[0-9]{2} ?年 ?(?:0?[1-9]|1[0-2]) ?月 ?(?:0?[1-9]|[12][0-9]|3[01]) ?日?",
            r"(?:0?[1-9]|[12][0-9]|3[01])[-/.](?:0?[1-9]|1[0-2]|[12][0-9]|3[01])[-/.](?:19|20)[0-9]{2}",
            rf"{_MONTH_NAME} [0-9]{{1,2}},? (?:19|20)[0-9]{{2}}",
            rf"[0-9]{{1,2}} {_MONTH_NAME},? (?:19|20)[0-9]{{2}}",
        ),
        validator=v.birth_date_ok,
        context=(
            "出生",
            "生日",
            "出生日期",
            "出生年月",
            "生于",
            "dob",
            "d.o.b",
            "birth",
            "born",
            "birthday",
            "date of birth",
        ),
        header_hints=(
            "出生日期",
            "生日",
            "出生年月",
            "birthday",
            "birth_date",
            "date_of_birth",
            "dob",
            "birthdate",
        ),
        default_mask="year",
        base_score=0.3,
        validated_score=0.5,
        extra={
            "needs_context": ALWAYS,
            "anti_context": "ts=|time|date|时间|日期|创建|更新|下单|支付|created|updated|timestamp",
        },
    ),
)

PI_TYPES: MappingProxyType[str, PIType] = MappingProxyType({t.id: t for t in _TYPES})


def get_type(type_id: str) -> PIType:
    """The type with this id; ``KeyError`` naming the known ids when there is none."""
    try:
        return PI_TYPES[type_id]
    except KeyError:
        known = ", ".join(PI_TYPES)
        raise KeyError(f"unknown personal-information type {type_id!r}; known: {known}") from None


@dataclass(frozen=True, slots=True)
class MaskSpec:
    """A parsed ``default_mask``: the operator and its integer arguments."""

    op: str
    args: tuple[int, ...] = ()


_MASK_ARITY = {
    "redact": 0,
    "keep": 2,
    "email": 1,
    "ip": 1,
    "year": 0,
    "address": 0,
    "name": 0,
    "full": 0,
}


def parse_mask(spec: str) -> MaskSpec:
    """Parse a mask spec (syntax in the module docstring); ``ValueError`` names what is wrong."""
    op, _, rest = spec.strip().partition(":")
    if op not in _MASK_ARITY:
        raise ValueError(f"mask {spec!r}: unknown operator {op!r}; known: {', '.join(_MASK_ARITY)}")
    parts = [p.strip() for p in rest.split(",")] if rest else []
    if len(parts) != _MASK_ARITY[op] or not all(p.isdigit() for p in parts):
        raise ValueError(
            f"mask {spec!r}: {op!r} takes {_MASK_ARITY[op]} non-negative integer argument(s)"
        )
    return MaskSpec(op, tuple(int(p) for p in parts))


_SPLIT = re.compile(r"[^0-9a-z\u0080-\uffff]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def header_hint(field_name: str, pi_type: PIType) -> str | None:
    """The first of the type's header hints found in a column or field name, or ``None``.

    Only the last segment of a field path counts (``data.list[].idCard``, ``Sheet1!手机``).
    Latin hints must equal a whole word of the name (``customer_phone``, ``PhoneNumber`` and
    ``user.phone`` hint at ``phone``; ``passnumber`` does not hint at ``ssn``, nor ``hotel`` at
    ``tel``); hints with CJK characters only need to occur in it (``收件人手机号`` hints at
    ``手机号``).  Multi-word Latin hints (``zip code``) match as a run of words or squashed
    together (``zipcode``).
    """
    name = re.split(r"[.!]", field_name)[-1].replace("[]", "")
    words = [w for w in _SPLIT.split(_CAMEL.sub(" ", name).lower()) if w]
    joined = " " + " ".join(words) + " "
    squashed = "".join(words)
    for hint in pi_type.header_hints:
        h = hint.lower()
        if any(ord(c) > 0x2E7F for c in h):
            if h in name.lower():
                return hint
            continue
        hint_words = [w for w in _SPLIT.split(h) if w]
        if not hint_words:
            continue
        if " " + " ".join(hint_words) + " " in joined:
            return hint
        if len(hint_words) > 1 and "".join(hint_words) == squashed:
            return hint
    return None


def types_for_header(header: str) -> list[str]:
    """Ids of the types whose header hints match a column header (see ``header_hint``), best
    first: the type whose matching hint is longest ranks first, ties in registry order."""
    ranked: list[tuple[int, int, str]] = []
    for order, t in enumerate(_TYPES):
        hint = header_hint(header, t)
        if hint is not None:
            ranked.append((-len(hint), order, t.id))
    return [type_id for _, _, type_id in sorted(ranked)]
