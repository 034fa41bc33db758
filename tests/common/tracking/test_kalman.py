import numpy as np
import pytest

from reproducers.common.tracking import KalmanFilter


def test_initiate_hand_values():
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([10.0, 20.0, 0.5, 40.0]))
    assert mean.tolist() == [10.0, 20.0, 0.5, 40.0, 0.0, 0.0, 0.0, 0.0]
    # stds: 2/20*h = 4 (pos), 1e-2 (aspect), 10/160*h = 2.5 (vel), 1e-5 (aspect vel)
    np.testing.assert_allclose(np.diag(cov), [16, 16, 1e-4, 16, 6.25, 6.25, 1e-10, 6.25])
    assert np.count_nonzero(cov - np.diag(np.diag(cov))) == 0


def test_predict_then_update_hand_computation():
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([10.0, 20.0, 0.5, 40.0]))
    mean[4:] = [1.0, 2.0, 0.0, 0.5]  # give it a velocity
    pm, pc = kf.predict(mean, cov)
    assert pm.tolist() == [11.0, 22.0, 0.5, 40.5, 1.0, 2.0, 0.0, 0.5]
    # F P F^T + Q with process stds from the *prior* height 40: h/20 = 2, h/160 = 0.25
    p_pp, p_pv, p_vv = 16 + 6.25 + 4, 6.25, 6.25 + 0.0625
    assert pc[0, 0] == pytest.approx(p_pp) and pc[3, 3] == pytest.approx(p_pp)
    assert pc[0, 4] == pytest.approx(p_pv) and pc[4, 0] == pytest.approx(p_pv)
    assert pc[4, 4] == pytest.approx(p_vv)
    assert pc[2, 2] == pytest.approx(1e-4 + 1e-10 + 1e-4)
    assert pc[0, 1] == 0 and pc[0, 5] == 0

    # measurement noise from the predicted height 40.5: (40.5/20)^2 = 4.100625
    z = np.array([13.0, 21.0, 0.5, 41.0])
    um, uc = kf.update(pm, pc, z)
    s = p_pp + 4.100625
    k_p, k_v = p_pp / s, p_pv / s
    assert um[0] == pytest.approx(11.0 + k_p * 2.0)
    assert um[4] == pytest.approx(1.0 + k_v * 2.0)
    assert um[1] == pytest.approx(22.0 + k_p * -1.0)
    assert um[5] == pytest.approx(2.0 + k_v * -1.0)
    assert um[3] == pytest.approx(40.5 + k_p * 0.5)
    assert um[7] == pytest.approx(0.5 + k_v * 0.5)
    s_a = pc[2, 2] + 1e-2
    assert um[2] == pytest.approx(0.5) and uc[2, 2] == pytest.approx(pc[2, 2] - pc[2, 2] ** 2 / s_a)
    assert uc[0, 0] == pytest.approx(p_pp - p_pp ** 2 / s)
    assert uc[0, 4] == pytest.approx(p_pv - p_pp * p_pv / s)
    assert uc[4, 4] == pytest.approx(p_vv - p_pv ** 2 / s)


def test_project_adds_measurement_noise():
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([0.0, 0.0, 1.0, 20.0]))
    pm, pc = kf.project(mean, cov)
    assert pm.tolist() == [0.0, 0.0, 1.0, 20.0]
    np.testing.assert_allclose(np.diag(pc), [4 + 1, 4 + 1, 1e-4 + 1e-2, 4 + 1])


def test_update_without_predict_keeps_velocity():
    """A fresh state has no position/velocity covariance, so an update cannot move the velocity
    (this is why mmtrack's never-predicted tentative tracks keep zero velocity)."""
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([0.0, 0.0, 0.5, 40.0]))
    um, _ = kf.update(mean, cov, np.array([7.0, -3.0, 0.5, 42.0]))
    assert um[4:].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert um[0] != 0.0


def test_batched_equals_single():
    kf = KalmanFilter()
    rng = np.random.default_rng(0)
    z = np.column_stack([rng.uniform(0, 100, (5, 2)), rng.uniform(0.3, 1, 5),
                         rng.uniform(20, 80, 5)])
    means, covs = kf.initiate(z)
    means[:, 4:] = rng.normal(size=(5, 4))
    pm, pc = kf.predict(means, covs)
    zz = z + rng.normal(size=z.shape)
    um, uc = kf.update(pm, pc, zz)
    for i in range(5):
        m1, c1 = kf.initiate(z[i])
        np.testing.assert_array_equal(c1, covs[i])
        m1[4:] = means[i, 4:]
        m1, c1 = kf.predict(m1, c1)
        np.testing.assert_allclose(m1, pm[i], rtol=1e-12)
        np.testing.assert_allclose(c1, pc[i], rtol=1e-12)
        m1, c1 = kf.update(m1, c1, zz[i])
        np.testing.assert_allclose(m1, um[i], rtol=1e-12)
        np.testing.assert_allclose(c1, uc[i], rtol=1e-10, atol=1e-12)
