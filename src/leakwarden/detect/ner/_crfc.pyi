"""Types of the compiled CRF loops (source: _crfc.pyx)."""

from typing import Any

import numpy as np
import numpy.typing as npt

def emissions(
    idx: npt.NDArray[np.int64], table: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]: ...
def viterbi(
    emis: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    lens: npt.NDArray[np.int64],
    trans: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]: ...
def marginals_many(
    emis: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    lens: npt.NDArray[np.int64],
    wanted: npt.NDArray[np.uint8],
    exp_trans: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def hash_rows(
    keys: npt.NDArray[np.int64],
    slot_keys: npt.NDArray[np.int64],
    slot_rows: npt.NDArray[np.int32],
    bits: int,
    missing: int,
) -> npt.NDArray[np.int32]: ...
def window_ids(
    norm: npt.NDArray[np.int64],
    cls: npt.NDArray[np.int64],
    mark: npt.NDArray[np.int64],
    gaz: npt.NDArray[np.int64],
    codes: tuple[int, int, int, int, int, int, int, int, int, int],
    dense_uni: npt.NDArray[np.int64],
    by_key: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], int, npt.NDArray[np.int64]],
    by_bigram: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], int, npt.NDArray[np.int64]],
    dense_k: npt.NDArray[np.int64],
    dense_m: npt.NDArray[np.int64],
    table: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[Any]: ...
def char_codes(
    text: str,
    norm_tab: npt.NDArray[np.int64],
    cls_tab: npt.NDArray[np.int64],
    mark_tab: npt.NDArray[np.int64],
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]: ...
def segments(text: str, max_segment: int) -> tuple[list[int], list[int]]: ...
def spans(
    labels: npt.NDArray[np.int64],
    bounds: npt.NDArray[np.int64],
    chosen: npt.NDArray[np.float64],
    codes: bytes,
) -> tuple[list[int], list[int], list[int], list[str], list[float]]: ...
