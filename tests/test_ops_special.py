"""erf and erfc against Python's math module (an independent implementation)."""

import math

import numpy as np

from builder.ops.special import erf, erfc

# --- erf / erfc -----------------------------------------------------------------------------


ERF_X = np.concatenate(
    [
        np.linspace(-8.0, 8.0, 10001),
        [0.0, 1e-300, -1e-300, 1e-20, -1e-20, 1e-8, 0.4999999, 0.5, 0.5000001, -0.5],
        [26.0, 27.0, 30.0, -30.0, 1e4, -1e4, 1e300, -1e300],
    ]
)


def test_erf_matches_math_erf_to_1e_14_relative():
    with np.errstate(all="raise"):
        got = erf(ERF_X)
    want = np.array([math.erf(v) for v in ERF_X.tolist()])
    nonzero = want != 0
    assert np.all(got[~nonzero] == 0)
    rel = np.abs(got[nonzero] - want[nonzero]) / np.abs(want[nonzero])
    assert rel.max() < 1e-14


def test_erfc_matches_math_erfc_to_1e_14_relative():
    x = np.concatenate([ERF_X, np.linspace(-2.0, 27.0, 5001)])
    with np.errstate(all="raise"):
        got = erfc(x)
    want = np.array([math.erfc(v) for v in x.tolist()])
    normal = want > np.finfo(np.float64).tiny
    rel = np.abs(got[normal] - want[normal]) / want[normal]
    assert rel.max() < 1e-14
    assert np.all(got[want == 0] == 0)


def test_erf_float32_stays_float32():
    x = np.linspace(-5.0, 5.0, 1001).astype(np.float32)
    got = erf(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [math.erf(v) for v in x.tolist()], rtol=1e-6, atol=1e-38)
