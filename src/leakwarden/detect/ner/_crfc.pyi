"""Types of the compiled CRF loops (source: _crfc.pyx)."""

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
