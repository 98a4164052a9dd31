"""Measure the engine's throughput on a few MB of mixed Chinese/English text.

``python -m leakwarden.detect.throughput --mb 4`` builds a seeded corpus (log-like lines and prose
in both languages, about one personal-information value per 60 bytes) and prints MB/s of
``Detector.find`` on one core, for the pattern types alone and with the name/address tagger.  The
project's comparison with Presidio lives in ``benchmarks/``; this is the engine's own quick check.
"""

from __future__ import annotations

import argparse
import random
import time

__all__ = ["build_corpus", "main"]

_ZH = [
    "客户{name}于今天下单，手机{mobile}，收货地址请见附件。",
    "身份证号{rid}，银行卡{card}，请核实后放款。",
    "快递单号{waybill}已发出，联系电话{landline}。",
    "用户邮箱{email}登录失败，IP {ip}，设备MAC {mac}。",
    "车牌{plate}的车辆于昨日进入园区，企业统一社会信用代码{uscc}。",
    "这是一段没有任何个人信息的普通中文文本，用来模拟日志中的噪声内容和业务描述。",
    "订单编号20231105123456，金额128.50元，状态：已完成，版本v1.2.3.4。",
]
_EN = [
    "Customer {name} called from {phone} about order 88231, email {email}.",
    "Wire to IBAN {iban}; SSN on file {ssn}; card {card}.",
    "GET /api/v1/users?id=42 200 from {ip} ua=Mozilla/5.0 took 35ms",
    "The quick brown fox jumps over the lazy dog while nothing sensitive happens here.",
]


def _luhn_complete(payload: str) -> str:
    from stdnum import luhn

    return payload + str(luhn.calc_check_digit(payload))


def _rid(rng: random.Random) -> str:
    from stdnum.cn import ric

    body = f"110105{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    return body + ric.calc_check_digit(body + "0")


def _uscc(rng: random.Random) -> str:
    from stdnum.cn import uscc

    while True:
        org = f"MA{rng.randint(0, 999999):06d}"  # GB 11714 body; check = 11 - sum mod 11
        total = sum(int(ch, 36) * w for ch, w in zip(org, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
        check = {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))
        if check == "X":
            continue  # X is not in the USCC alphabet
        body = f"9135010{rng.randint(0, 9)}{org}{check}"
        return body + uscc.calc_check_digit(body)


def build_corpus(megabytes: float, seed: int = 7) -> str:
    """A seeded mixed-language corpus of roughly ``megabytes`` MB (UTF-8)."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    names = ["张伟", "王芳", "李娜", "刘洋", "John Smith", "Mary Johnson"]
    provinces = "京沪粤苏浙川"
    lines: list[str] = []
    size = 0
    while size < target:
        template = rng.choice(_ZH if rng.random() < 0.6 else _EN)
        line = template.format(
            name=rng.choice(names),
            mobile=f"1{rng.choice('3589')}{rng.randint(0, 999999999):09d}",
            rid=_rid(rng),
            card=_luhn_complete(f"622202{rng.randint(0, 10**12 - 1):012d}"),
            waybill=f"SF{rng.randint(10**12, 10**13 - 1)}",
            landline=f"010-{rng.randint(20000000, 89999999)}",
            email=f"user{rng.randint(1, 99999)}@example.com",
            ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            mac=":".join(f"{rng.randint(0, 255):02x}" for _ in range(6)),
            plate=f"{rng.choice(provinces)}A{rng.randint(10000, 99999)}",
            uscc=_uscc(rng),
            phone=f"+1 202-555-{rng.randint(100, 199):04d}",
            iban="GB82 WEST 1234 5698 7654 32",
            ssn=f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        )
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
    return "\n".join(lines)


def _measure(label: str, find: object, text: str, chunk_chars: int) -> None:
    from collections.abc import Callable
    from typing import cast

    call = cast(Callable[[str], list[object]], find)
    chunks = [text[i : i + chunk_chars] for i in range(0, len(text), chunk_chars)]
    size = len(text.encode("utf-8")) / 1_000_000
    started, cpu_started = time.perf_counter(), time.process_time()
    found = sum(len(call(c)) for c in chunks)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print(
        f"{label}: {size:.2f} MB, {found} findings, chunks of {chunk_chars} chars: "
        f"{size / cpu:.1f} MB/s per core (CPU {cpu:.2f} s; wall {elapsed:.2f} s)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=4.0, help="corpus size in MB")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="characters per find()")
    parser.add_argument("--ner", action="store_true", help="also time names/addresses")
    args = parser.parse_args(argv)

    from leakwarden.detect.engine import Detector

    text = build_corpus(args.mb)
    started = time.perf_counter()
    patterns_only = Detector(use_ner=False)
    print(f"compile: {time.perf_counter() - started:.2f} s (once per process)")
    patterns_only.find(build_corpus(0.2, seed=99))  # load phone/region metadata once
    _measure("patterns", patterns_only.find, text, args.chunk)
    _measure("patterns, 200-char cells", patterns_only.find, text[:1_000_000], 200)
    if args.ner:
        with_ner = Detector()
        if with_ner.uses_tagger:
            _measure("patterns + names/addresses", with_ner.find, text, args.chunk)
        else:
            print("names/addresses: tagger model not available")


if __name__ == "__main__":
    main()
