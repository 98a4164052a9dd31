"""Types of the native pattern pass (source: _patterns.pyx)."""

import re
from collections.abc import Callable

PRECHECK_NONE: int
PRECHECK_LUHN: int
PRECHECK_USCC: int
PRECHECK_MOD11_2: int

CHECK_CN_MOBILE_OK: int
CHECK_IP_OK: int
CHECK_MAC_OK: int
CHECK_EMAIL_OK: int
CHECK_WAYBILL_OK: int
CHECK_RESIDENT_ID_OK: int

def precheck_rejects(kind: int, value: bytes) -> bool: ...
def native_answer(
    kind: int,
    value: bytes,
    today: int = 0,
    regions: tuple[int, ...] = (),
    permits: tuple[int, ...] = (),
) -> bool | None: ...

class Scratch: ...

class PatternPass:
    def __init__(
        self,
        expressions: list[bytes],
        flags: list[int],
        pattern_rule: tuple[int, ...],
        pattern_mode: tuple[int, ...],
        context_rules: tuple[tuple[int, ...], ...],
        context_len: tuple[int, ...],
        rules: list[
            tuple[bytes, re.Pattern[str] | None, Callable[[str], bool] | None, float, bool, int]
        ],
        windows: tuple[int, int, int],
        boost: float,
        regions: tuple[int, ...] = (),
        permits: tuple[int, ...] = (),
    ) -> None: ...
    def scratch(self) -> Scratch: ...
    def candidates(
        self, data: bytes, scratch: Scratch, min_score: float, today: int = 0
    ) -> list[tuple[int, int, int, float, bool]]: ...
