"""trace (issue 6): normal forms of names and addresses, and the address comparison
(:mod:`leakwarden.trace.fuzzy`).  Expected values are written by hand from the GB/T 2260 region
names (朝阳区 is a district of both Beijing and Changchun; 盐池县 of Wuzhong, Ningxia)."""

from __future__ import annotations

import pytest

from leakwarden.trace.fuzzy import (
    ADDRESS_OK,
    address_key,
    address_numbers,
    address_score,
    block_key,
    city_key,
    name_form,
    parse_address,
)

FULL = "宁夏回族自治区吴忠市盐池县胜利中路344号怡景新村6栋4单元3004室"


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("毛馨霞", "毛馨霞"),
        ("毛 馨霞", "毛馨霞"),
        (" 毛馨霞\u3000", "毛馨霞"),
        ("阿卜杜·热合曼", "阿卜杜热合曼"),
        ("Matthew Buchanan", "buchanan matthew"),
        ("Buchanan, Matthew", "buchanan matthew"),
        ("ＭＡＴＴＨＥＷ BUCHANAN", "buchanan matthew"),
        ("José García", "garcia jose"),
        ("Seán O'Brien", "obrien sean"),
    ],
)
def test_name_forms(text: str, form: str) -> None:
    assert name_form(text) == form


@pytest.mark.parametrize(
    "text",
    ["", "王", "13812345678", "Seattle", "张三丰李四王五赵六钱七", "1035 Church St", "a b c d e"],
)
def test_not_names(text: str) -> None:
    assert name_form(text) is None


@pytest.mark.parametrize(
    "text",
    [
        FULL,
        "吴忠市 盐池县 胜利中路344号 怡景新村6号楼4单元3004",  # no province, spaces, 号楼
        "宁夏吴忠盐池胜利中路３４４号怡景新村6幢4单元3004室",  # short names, full-width digits
        "盐池县胜利中路344号怡景新村6栋4单元3004室",  # the district alone
        "收货地址：宁夏回族自治区吴忠市盐池县胜利中路344号怡景新村6栋4单元3004室",
    ],
)
def test_one_address_in_many_shapes(text: str) -> None:
    parsed = parse_address(text)
    assert parsed is not None
    assert parsed.cities == ("吴忠市",)
    assert parsed.district == "盐池县"
    assert parsed.rest == "胜利中路344号怡景新村6栋4单元3004"
    assert parsed.numbers == ("344", "6", "4", "3004")


def test_a_district_of_two_cities_gives_both_unless_the_city_is_said() -> None:
    alone = parse_address("朝阳区建国路1号")
    assert alone is not None and alone.cities == ("北京市", "长春市")
    beijing = parse_address("北京市朝阳区建国路1号")
    assert beijing is not None and beijing.cities == ("北京市",)
    assert beijing.district == "朝阳区"
    # 朝阳市 (Liaoning) is a city too: with its province it is that city
    liaoning = parse_address("辽宁省朝阳市双塔区中山大街1号")
    assert liaoning is not None and liaoning.cities == ("朝阳市",)
    # 河北区 is a district of Tianjin, though 河北 is also a province's short name
    tianjin = parse_address("河北区育才北路407号")
    assert tianjin is not None and tianjin.cities == ("天津市",)
    assert tianjin.district == "河北区"


def test_us_addresses() -> None:
    a = parse_address("1035 Church St, Seattle, WA 98192")
    b = parse_address("1035 Church Street,Seattle, WA 98192-1234")
    assert a is not None and b is not None
    assert a.cities == b.cities == ("seattle",)
    assert a.rest == b.rest == "1035 church st 98192"
    assert address_score(a, b) == 1.0


@pytest.mark.parametrize("text", ["已发货", "周末送货，不要放快递柜", "Church St", "胜利中路344号"])
def test_not_addresses(text: str) -> None:
    assert parse_address(text) is None


def test_address_scores() -> None:
    base = parse_address(FULL)
    assert base is not None
    same = parse_address("吴忠市盐池县胜利中路344号怡景新村6栋4单元3004")
    road_typo = parse_address("宁夏吴忠市盐池县胜利东路344号怡景新村6栋4单元3004室")
    other_room = parse_address("宁夏吴忠市盐池县胜利中路344号怡景新村6栋4单元3005室")
    other_district = parse_address("宁夏吴忠市利通区胜利中路344号怡景新村6栋4单元3004室")
    other_city = parse_address("北京市朝阳区胜利中路344号怡景新村6栋4单元3004室")
    assert same and road_typo and other_room and other_district and other_city
    assert address_score(base, same) == 1.0
    assert address_score(base, road_typo) == ADDRESS_OK  # every number equal, one character off
    assert address_score(base, other_room) < ADDRESS_OK
    assert address_score(base, other_district) == 0.0
    assert address_score(base, other_city) == 0.0


def test_city_keys_and_block_keys() -> None:
    assert city_key("吴忠市") == city_key("吴忠") == ("吴忠市",)
    assert city_key("北京市") == ("北京市",)
    assert city_key("Seattle") == ("seattle",)
    assert city_key("") == ()
    assert city_key("不存在市") == ()
    numbers = address_numbers(FULL)
    assert numbers == ("344", "6", "4", "3004")
    assert address_numbers("1035 Church St, Seattle, WA 02134") == ("1035", "2134")
    assert address_numbers("ＡＢ路０８号") == ("8",)
    assert block_key("毛馨霞", "吴忠市", numbers) == "na:毛馨霞|吴忠市|344-6-4-3004"
    assert address_key("吴忠市", numbers) == "a:吴忠市|344-6-4-3004"
    # the numbers of the parsed address are the customer side's numbers of the whole address
    for text in (
        FULL,
        "天津市河北区育才北路407号星河嘉园16栋3单元1004室",
        "1 Main St, Boston, MA 02134",
    ):
        parsed = parse_address(text)
        assert parsed is not None and parsed.numbers == address_numbers(text)
