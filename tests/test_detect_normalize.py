"""Normalisation (length-preserving folding) and byte decoding (BOMs, UTF-16 without BOM, GBK)."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakwarden.detect.normalize import (
    DecodeError,
    decode_bytes,
    fold_for_matching,
    fold_utf8,
    normalize,
)

SAMPLE = "客户张三，手机１３８１２３４５６７８，邮箱 zhang@qq.com。"


class TestNormalize:
    def test_full_width_ascii(self) -> None:
        assert normalize("１３８　ＡＢＣ＠ｘｙｚ．ｃｏｍ") == "138 ABC@xyz.com"

    def test_ideographic_space_and_dashes(self) -> None:
        assert normalize("010－1234\u3000138\u20131234") == "010-1234 138-1234"

    def test_cjk_untouched(self) -> None:
        assert normalize("北京市朝阳区") == "北京市朝阳区"

    @given(st.text())
    def test_length_preserving(self, text: str) -> None:
        assert len(normalize(text)) == len(text)
        assert len(fold_for_matching(text)) == len(text)

    def test_fold_utf8_by_hand(self) -> None:
        text = "手机：１３８－１２３４\u3000邮箱ａｂ＠ｅｘ．ｃｏｍ，电话010\u20131234"
        expected = "手机：138-1234 邮箱ab@ex.com，电话010-1234"
        assert fold_utf8(text.encode("utf-8")) == expected.encode("utf-8")
        assert fold_utf8(b"plain ascii") == b"plain ascii"

    @given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFFFF)))
    def test_fold_utf8_is_fold_for_matching_in_bytes(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        assert fold_utf8(data) == fold_for_matching(data.decode("utf-8")).encode("utf-8")

    @given(st.text(alphabet=st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E)))
    def test_folding_agrees_with_normalize_on_value_characters(self, text: str) -> None:
        folded, full = fold_for_matching(text), normalize(text)
        for a, b in zip(folded, full, strict=True):
            if b.isalnum() or b in "+-.@()_%#/":
                assert a == b


class TestDecode:
    def test_utf8(self) -> None:
        assert decode_bytes(SAMPLE.encode("utf-8")) == (SAMPLE, "utf-8")

    def test_utf8_bom(self) -> None:
        assert decode_bytes(codecs.BOM_UTF8 + SAMPLE.encode()) == (SAMPLE, "utf-8")

    @pytest.mark.parametrize("encoding", ["gbk", "gb2312", "gb18030"])
    def test_gb_family(self, encoding: str) -> None:
        text = SAMPLE.replace("１３８１２３４５６７８", "13812345678")
        assert decode_bytes(text.encode(encoding)) == (text, "gb18030")

    @pytest.mark.parametrize(
        ("bom", "encoding"),
        [
            (codecs.BOM_UTF16_LE, "utf-16-le"),
            (codecs.BOM_UTF16_BE, "utf-16-be"),
            (codecs.BOM_UTF32_LE, "utf-32-le"),
            (codecs.BOM_UTF32_BE, "utf-32-be"),
        ],
    )
    def test_boms(self, bom: bytes, encoding: str) -> None:
        assert decode_bytes(bom + SAMPLE.encode(encoding)) == (SAMPLE, encoding)

    @pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
    def test_utf16_without_bom_ascii_heavy(self, encoding: str) -> None:
        text = "name,phone\nZhang San,13812345678\nLi Si,13912345678\n"
        assert decode_bytes(text.encode(encoding)) == (text, encoding)

    def test_utf16_without_bom_mixed(self) -> None:
        text = "id,name,mobile\n1,张三,13812345678\n2,李四,13912345678\n" * 3
        assert decode_bytes(text.encode("utf-16-le")) == (text, "utf-16-le")

    def test_empty(self) -> None:
        assert decode_bytes(b"") == ("", "utf-8")

    def test_bad_bytes_after_bom_name_the_offset(self) -> None:
        with pytest.raises(DecodeError, match="byte 6"):
            decode_bytes(codecs.BOM_UTF8 + b"abc\xff")  # 3-byte BOM + 3
