"""Word pools the demo's value generators draw from, built once and cached.

Names come from Faker's data (zh_CN surnames with their frequency weights, given-name characters;
en_US first and last names with census weights), romanised with pypinyin for e-mail addresses.
The rest are short hand-kept lists of real-looking pieces: road and housing-estate words, bank
card BINs, US cities with their area codes and ZIP prefixes, mobile number segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "CN_BANKS",
    "CN_EMAIL_DOMAINS",
    "COMMUNITY_SUFFIXES",
    "COMMUNITY_WORDS",
    "EN_EMAIL_DOMAINS",
    "MOBILE_SEGMENTS",
    "ROAD_SUFFIXES",
    "ROAD_WORDS",
    "US_BANKS",
    "US_CITIES",
    "US_STREETS",
    "US_STREET_SUFFIXES",
    "Bank",
    "NamePool",
    "cn_given_names",
    "cn_surnames",
    "en_first_names",
    "en_last_names",
]

Probabilities = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NamePool:
    """Names with draw probabilities and a romanised (ASCII, lower-case) form of each."""

    names: tuple[str, ...]
    p: Probabilities
    ascii: tuple[str, ...]


def _pool(weighted: dict[str, float], romanise: bool) -> NamePool:
    names = tuple(weighted)
    weights = np.array([weighted[n] for n in names], dtype=np.float64)
    if romanise:
        from pypinyin import Style, lazy_pinyin

        ascii_forms = tuple("".join(lazy_pinyin(n, style=Style.NORMAL)) for n in names)
    else:
        ascii_forms = tuple(n.lower() for n in names)
    return NamePool(names, weights / weights.sum(), ascii_forms)


# pypinyin reads surnames as ordinary words; these are the surname readings that differ.
_SURNAME_READINGS = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "区": "ou",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "盖": "ge",
    "乐": "yue",
    "覃": "qin",
    "翟": "zhai",
    "缪": "miao",
}


@cache
def cn_surnames() -> NamePool:
    """Chinese surnames weighted by frequency (Faker zh_CN's table: 王 7.17 %, 李 7.00 % ...)."""
    from faker.providers.person.zh_CN import Provider

    pool = _pool(dict(Provider.last_names), romanise=True)
    fixed = tuple(_SURNAME_READINGS.get(n, a) for n, a in zip(pool.names, pool.ascii, strict=True))
    return NamePool(pool.names, pool.p, fixed)


# Given-name characters in common use, added to Faker's short lists for variety.
_EXTRA_MALE = "浩宇轩子博文俊晨泽睿志明建国华嘉一天佳鹏飞鑫磊宁辉健斌彬凯昊然航远哲毅诚"
_EXTRA_FEMALE = "欣怡梓涵雨萱诗琪可馨婷思悦雅晓慧玉佳琳梦瑶颖月雪倩璐彤妍蕾蓉"


@cache
def cn_given_names(male: bool) -> NamePool:
    """Given-name pieces (one or two characters) for one gender, equally likely."""
    from faker.providers.person.zh_CN import Provider

    base = Provider.first_names_male if male else Provider.first_names_female
    extra = _EXTRA_MALE if male else _EXTRA_FEMALE
    names = dict.fromkeys([*base, *extra], 1.0)
    return _pool(names, romanise=True)


@cache
def en_first_names(male: bool) -> NamePool:
    """US first names weighted by frequency (Faker en_US, from US census data)."""
    from faker.providers.person.en_US import Provider

    return _pool(dict(Provider.first_names_male if male else Provider.first_names_female), False)


@cache
def en_last_names() -> NamePool:
    """US last names weighted by frequency (Faker en_US, from the 2010 US census)."""
    from faker.providers.person.en_US import Provider

    return _pool(dict(Provider.last_names), romanise=False)


# Mainland mobile segments (MIIT numbering plan), with rough shares: the old 13x/15x/18x blocks
# hold most subscribers.
MOBILE_SEGMENTS: dict[str, float] = {
    **{f"13{d}": 3.0 for d in range(10)},
    **{f"15{d}": 2.5 for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)},
    **{f"18{d}": 2.5 for d in range(10)},
    **{s: 1.0 for s in ("145", "147", "166", "173", "175", "176", "177", "178")},
    **{s: 0.8 for s in ("191", "193", "195", "196", "198", "199", "190", "197", "192")},
}

ROAD_WORDS = (
    "人民", "解放", "中山", "建设", "和平", "新华", "文化", "胜利", "朝阳", "长江", "黄河", "东风",
    "友谊", "青年", "光明", "幸福", "振兴", "团结", "迎宾", "滨河", "府前", "南京", "北京", "上海",
    "延安", "复兴", "科技", "学府", "工业", "开发", "世纪", "东方", "花园", "湖滨", "金桥", "银河",
    "育才", "体育", "公园", "站前", "民主", "跃进", "红旗", "北环", "南环", "西湖", "龙华", "天府",
)  # fmt: skip
ROAD_SUFFIXES = ("路", "路", "路", "街", "大道", "东路", "西路", "南路", "北路", "中路", "大街")
COMMUNITY_WORDS = (
    "阳光", "幸福", "金色", "锦绣", "翠湖", "华庭", "御景", "绿地", "星河", "海棠", "紫荆", "丽景",
    "碧水", "香樟", "枫林", "东方", "世纪", "明珠", "龙湖", "名都", "春天", "美林", "康乐", "和谐",
    "书香", "滨江", "悦澜", "天悦", "云顶", "桂香", "梅岭", "兰亭", "新峰", "首座", "铂悦", "怡景",
)  # fmt: skip
COMMUNITY_SUFFIXES = ("小区", "花园", "家园", "苑", "公寓", "新村", "嘉园", "府", "城")

CN_EMAIL_DOMAINS: dict[str, float] = {
    "qq.com": 5.0, "163.com": 3.0, "126.com": 1.5, "sina.com": 0.8, "foxmail.com": 0.6,
    "139.com": 0.5, "outlook.com": 0.5, "gmail.com": 0.5, "aliyun.com": 0.3, "sohu.com": 0.3,
}  # fmt: skip
EN_EMAIL_DOMAINS: dict[str, float] = {
    "gmail.com": 5.0, "yahoo.com": 2.0, "outlook.com": 1.5, "hotmail.com": 1.5, "icloud.com": 1.0,
    "aol.com": 0.4, "comcast.net": 0.4,
}  # fmt: skip


@dataclass(frozen=True)
class Bank:
    """A card issuer: the name printed on statements and the BINs (first six digits) and card
    lengths it issues.  BINs are as commonly published; only the 62 (UnionPay) / 4 (Visa) /
    5 (Mastercard) prefixes and the Luhn digit are required to be right."""

    name: str
    bins: tuple[str, ...]
    lengths: tuple[int, ...]


CN_BANKS = (
    Bank("中国工商银行", ("622202", "622208", "621226", "621225"), (19,)),
    Bank("中国建设银行", ("621700", "622700", "621284"), (19,)),
    Bank("中国农业银行", ("622848", "622845", "621282"), (19,)),
    Bank("中国银行", ("621661", "621785", "621660"), (19,)),
    Bank("交通银行", ("622262", "622260"), (19,)),
    Bank("中国邮政储蓄银行", ("621799", "622188"), (19,)),
    Bank("招商银行", ("622588", "621483", "622575"), (16,)),
    Bank("中信银行", ("622690", "621768"), (16,)),
    Bank("浦发银行", ("622521", "621792"), (16,)),
    Bank("民生银行", ("622622", "621691"), (16,)),
    Bank("平安银行", ("622155", "621626"), (16, 19)),
)
US_BANKS = (
    Bank("Chase", ("414720", "426684", "546616"), (16,)),
    Bank("Bank of America", ("400344", "431307", "549035"), (16,)),
    Bank("Wells Fargo", ("446542", "414718", "552433"), (16,)),
    Bank("Citibank", ("542418", "412174", "222300"), (16,)),
    Bank("Capital One", ("517805", "412185", "552851"), (16,)),
)

# (city, state, area codes, first three ZIP digits) for real US cities.
US_CITIES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("New York", "NY", ("212", "718", "917", "646"), "100"),
    ("Los Angeles", "CA", ("213", "310", "323"), "900"),
    ("Chicago", "IL", ("312", "773"), "606"),
    ("Houston", "TX", ("713", "281", "832"), "770"),
    ("Phoenix", "AZ", ("602", "480"), "850"),
    ("Philadelphia", "PA", ("215", "267"), "191"),
    ("San Antonio", "TX", ("210",), "782"),
    ("San Diego", "CA", ("619", "858"), "921"),
    ("Dallas", "TX", ("214", "469", "972"), "752"),
    ("San Jose", "CA", ("408", "669"), "951"),
    ("Austin", "TX", ("512", "737"), "787"),
    ("Seattle", "WA", ("206", "425"), "981"),
    ("Boston", "MA", ("617", "857"), "021"),
    ("Denver", "CO", ("303", "720"), "802"),
    ("Atlanta", "GA", ("404", "678"), "303"),
    ("Miami", "FL", ("305", "786"), "331"),
    ("Portland", "OR", ("503", "971"), "972"),
    ("Minneapolis", "MN", ("612",), "554"),
    ("Detroit", "MI", ("313",), "482"),
    ("Columbus", "OH", ("614",), "432"),
    ("San Francisco", "CA", ("415", "628"), "941"),
)
US_STREETS = (
    "Main", "Oak", "Maple", "Washington", "Park", "Lake", "Hill", "Cedar", "Pine", "Elm", "Sunset",
    "Lincoln", "Jackson", "Franklin", "Highland", "Church", "Mill", "River", "Spring", "Madison",
    "Walnut", "Willow", "Jefferson", "Adams", "Forest", "Meadow", "Ridge", "Chestnut", "Market",
)  # fmt: skip
US_STREET_SUFFIXES = ("St", "Ave", "Blvd", "Rd", "Ln", "Dr", "Ct", "Way", "Pl")
