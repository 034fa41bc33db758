"""DeepSORT-style constant-velocity Kalman filter for boxes, as used by mmtrack's ByteTrack.

Reproduces the behaviour of mmtrack 0.14 ``mmtrack/models/motion/kalman_filter.py``
(``KalmanFilter(center_only=False)``, itself after nwojke/deep_sort), written anew:

* state ``(cx, cy, a, h, vcx, vcy, va, vh)`` with ``a = w / h``; measurement ``(cx, cy, a, h)``;
  constant velocity with ``dt = 1``;
* noise proportional to the box height ``h``: position weight 1/20, velocity weight 1/160;
  the aspect ratio gets fixed stds (1e-2 / 1e-5 process, 1e-1 measurement);
* ``initiate``: mean = (measurement, 0), covariance diag of stds
  ``(2/20 h, 2/20 h, 1e-2, 2/20 h, 10/160 h, 10/160 h, 1e-5, 10/160 h)`` squared;
* ``predict``: ``x <- F x``, ``P <- F P F^T + Q`` with
  ``Q = diag((h/20, h/20, 1e-2, h/20, h/160, h/160, 1e-5, h/160)^2)`` (``h`` = prior mean);
* ``project``: ``H x``, ``H P H^T + R`` with ``R = diag((h/20, h/20, 1e-1, h/20)^2)``;
* ``update``: standard gain ``K = P H^T S^-1`` (mmtrack solves it by Cholesky), mean
  ``x + K (z - H x)``, covariance ``P - K S K^T``.

Unlike mmtrack, every method also accepts a batch: ``mean`` ``(..., 8)``, ``covariance``
``(..., 8, 8)``, ``measurement`` ``(..., 4)``. Results equal mmtrack's per-track numpy/scipy
computation up to floating-point rounding (a few ulp: the matrix products and the linear solve
may sum in another order), in float64. The gating distance of mmtrack's filter is not used
by ByteTracker and is not reproduced.
"""

from __future__ import annotations

import numpy as np

NDIM = 4  # measurement dimension (cx, cy, a, h)


class KalmanFilter:
    """Constant-velocity Kalman filter in ``(cx, cy, a, h)`` box space (see module docstring)."""

    std_weight_position: float = 1.0 / 20
    std_weight_velocity: float = 1.0 / 160

    def __init__(self) -> None:
        self.motion_mat = np.eye(2 * NDIM)
        self.motion_mat[np.arange(NDIM), NDIM + np.arange(NDIM)] = 1.0  # dt = 1
        self.update_mat = np.eye(NDIM, 2 * NDIM)

    # -- noise models ----------------------------------------------------------------------
    def _stds(self, h: np.ndarray, pos: float, vel: float | None,
              a_pos: float, a_vel: float) -> np.ndarray:
        """Per-dimension stds ``(pos*h, pos*h, a_pos, pos*h[, vel*h, vel*h, a_vel, vel*h])``."""
        h = np.asarray(h, dtype=np.float64)
        cols = [pos * h, pos * h, np.full_like(h, a_pos), pos * h]
        if vel is not None:
            cols += [vel * h, vel * h, np.full_like(h, a_vel), vel * h]
        return np.stack(cols, axis=-1)

    @staticmethod
    def _diag(std: np.ndarray) -> np.ndarray:
        d = std.shape[-1]
        out = np.zeros(std.shape + (d,), dtype=np.float64)
        idx = np.arange(d)
        out[..., idx, idx] = np.square(std)
        return out

    # -- filter steps ------------------------------------------------------------------------
    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track state from an unassociated measurement ``(cx, cy, a, h)``; velocities 0."""
        z = np.asarray(measurement, dtype=np.float64)
        mean = np.concatenate([z, np.zeros_like(z)], axis=-1)
        w_pos, w_vel = self.std_weight_position, self.std_weight_velocity
        std = self._stds(z[..., 3], 2 * w_pos, 10 * w_vel, 1e-2, 1e-5)
        return mean, self._diag(std)

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One constant-velocity step; process noise scaled by the prior height ``mean[3]``."""
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(covariance, dtype=np.float64)
        std = self._stds(mean[..., 3], self.std_weight_position, self.std_weight_velocity,
                         1e-2, 1e-5)
        f = self.motion_mat
        new_mean = mean @ f.T
        new_cov = f @ (cov @ f.T) + self._diag(std)
        return new_mean, new_cov

    def project(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State distribution in measurement space, measurement noise added."""
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(covariance, dtype=np.float64)
        std = self._stds(mean[..., 3], self.std_weight_position, None, 1e-1, 0.0)
        # H selects the first four state entries: H x and H P H^T are exact sub-blocks
        return mean[..., :NDIM].copy(), cov[..., :NDIM, :NDIM] + self._diag(std)

    def update(self, mean: np.ndarray, covariance: np.ndarray,
               measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct the state with a measurement ``(cx, cy, a, h)``."""
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(covariance, dtype=np.float64)
        z = np.asarray(measurement, dtype=np.float64)
        proj_mean, proj_cov = self.project(mean, cov)
        pht = cov[..., :, :NDIM]  # P H^T, (..., 8, 4)
        # K = P H^T S^-1  <=>  S K^T = (P H^T)^T  (S symmetric)
        gain = np.swapaxes(np.linalg.solve(proj_cov, np.swapaxes(pht, -1, -2)), -1, -2)
        innovation = z - proj_mean
        new_mean = mean + np.einsum("...ij,...j->...i", gain, innovation)
        new_cov = cov - gain @ proj_cov @ np.swapaxes(gain, -1, -2)
        return new_mean, new_cov
