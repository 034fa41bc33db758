// Conjugate-symmetric Cauchy kernel of S4 (forward and backward), written from scratch.
//
//   out[b, l] = sum_n v[b,n] / (z[l] - w[b,n]) + conj(v[b,n]) / (z[l] - conj(w[b,n]))
//
// Backward (PyTorch convention: g = dLoss/d conj(out), returned grads = dLoss/d conj(x)):
//   dv[b,n] = sum_l conj(g)/(z - conj w) + g/(conj z - conj w)
//   dw[b,n] = conj(v) * sum_l conj(g)/(z - conj w)^2 + g/(conj z - conj w)^2
// z gets no gradient. Tensors are contiguous complex64/complex128, read as interleaved
// (re, im) pairs of real_t so no complex class is needed on the device.
// Pure-PyTorch twin: reproducers/common/cauchy.py (CauchyConjTorch).

#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>

#include <tuple>

namespace {

constexpr int kFwdThreads = 256;  // nodes z_l per block (one thread each)
constexpr int kFwdTile = 256;     // modes (v, w) staged in shared memory per pass
constexpr int kBwdThreads = 256;  // threads striding over L for one (row, mode)
constexpr int kWarp = 32;

template <typename T>
struct Cx {
  T re, im;
};

template <typename T>
__device__ __forceinline__ Cx<T> cmul(Cx<T> a, Cx<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}

template <typename T>
__device__ __forceinline__ Cx<T> cinv(Cx<T> a) {
  const T s = T(1) / (a.re * a.re + a.im * a.im);
  return {a.re * s, -a.im * s};
}

template <typename T>
__device__ __forceinline__ Cx<T> cconj(Cx<T> a) {
  return {a.re, -a.im};
}

template <typename T>
__device__ __forceinline__ Cx<T> load(const T* p, int64_t i) {
  return {p[2 * i], p[2 * i + 1]};
}

// grid (rows, ceil(L / kFwdThreads)); thread = one node l of one row b. Rows ride on grid.x
// (limit 2^31 - 1), node tiles on grid.y (limit 65535 -> L up to ~16.7M).
template <typename T>
__global__ void cauchy_conj_fwd_kernel(const T* __restrict__ v, const T* __restrict__ z,
                                       const T* __restrict__ w, T* __restrict__ out,
                                       int64_t n_modes, int64_t length) {
  __shared__ T s_v[2 * kFwdTile];
  __shared__ T s_w[2 * kFwdTile];
  const int64_t b = blockIdx.x;
  const int64_t l = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  const bool active = l < length;
  const Cx<T> zl = active ? load(z, l) : Cx<T>{T(0), T(0)};
  const T* vb = v + 2 * b * n_modes;
  const T* wb = w + 2 * b * n_modes;
  Cx<T> acc{T(0), T(0)};
  for (int64_t start = 0; start < n_modes; start += kFwdTile) {
    const int64_t rest = n_modes - start;
    const int64_t tile = rest < kFwdTile ? rest : kFwdTile;
    for (int64_t i = threadIdx.x; i < 2 * tile; i += blockDim.x) {
      s_v[i] = vb[2 * start + i];
      s_w[i] = wb[2 * start + i];
    }
    __syncthreads();
    if (active) {
      for (int64_t n = 0; n < tile; ++n) {
        const Cx<T> vn{s_v[2 * n], s_v[2 * n + 1]};
        const T dre = zl.re - s_w[2 * n];
        const T wim = s_w[2 * n + 1];
        const Cx<T> t1 = cmul(vn, cinv(Cx<T>{dre, zl.im - wim}));          // v / (z - w)
        const Cx<T> t2 = cmul(cconj(vn), cinv(Cx<T>{dre, zl.im + wim}));   // conj v / (z - conj w)
        acc.re += t1.re + t2.re;
        acc.im += t1.im + t2.im;
      }
    }
    __syncthreads();
  }
  if (active) {
    out[2 * (b * length + l)] = acc.re;
    out[2 * (b * length + l) + 1] = acc.im;
  }
}

template <typename T>
__device__ __forceinline__ T warp_sum(T x) {
  for (int off = kWarp / 2; off > 0; off /= 2) x += __shfl_down_sync(0xffffffffu, x, off);
  return x;
}

// 1-D grid of rows * n_modes blocks; a block reduces over all nodes l for one (row b, mode n).
template <typename T>
__global__ void cauchy_conj_bwd_kernel(const T* __restrict__ v, const T* __restrict__ z,
                                       const T* __restrict__ w, const T* __restrict__ grad,
                                       T* __restrict__ dv, T* __restrict__ dw, int64_t n_modes,
                                       int64_t length) {
  __shared__ T s_part[4][kBwdThreads / kWarp];
  const int64_t bn = blockIdx.x;  // = b * n_modes + n
  const int64_t b = bn / n_modes;
  const Cx<T> wc = cconj(load(w, bn));
  const T* gb = grad + 2 * b * length;
  T acc[4] = {T(0), T(0), T(0), T(0)};  // dv.re, dv.im, dw.re, dw.im (before * conj v)
  for (int64_t l = threadIdx.x; l < length; l += blockDim.x) {
    const Cx<T> zl = load(z, l);
    const Cx<T> gl = load(gb, l);
    const Cx<T> i1 = cinv(Cx<T>{zl.re - wc.re, zl.im - wc.im});    // 1 / (z - conj w)
    const Cx<T> i2 = cinv(Cx<T>{zl.re - wc.re, -zl.im - wc.im});   // 1 / (conj z - conj w)
    const Cx<T> a1 = cmul(cconj(gl), i1);
    const Cx<T> a2 = cmul(gl, i2);
    const Cx<T> b1 = cmul(a1, i1);
    const Cx<T> b2 = cmul(a2, i2);
    acc[0] += a1.re + a2.re;
    acc[1] += a1.im + a2.im;
    acc[2] += b1.re + b2.re;
    acc[3] += b1.im + b2.im;
  }
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const T s = warp_sum(acc[k]);
    if (lane == 0) s_part[k][warp] = s;
  }
  __syncthreads();
  if (warp == 0) {
    const int n_warps = blockDim.x / kWarp;
#pragma unroll
    for (int k = 0; k < 4; ++k) acc[k] = lane < n_warps ? s_part[k][lane] : T(0);
#pragma unroll
    for (int k = 0; k < 4; ++k) acc[k] = warp_sum(acc[k]);
    if (lane == 0) {
      dv[2 * bn] = acc[0];
      dv[2 * bn + 1] = acc[1];
      const Cx<T> g = cmul(cconj(load(v, bn)), Cx<T>{acc[2], acc[3]});
      dw[2 * bn] = g.re;
      dw[2 * bn + 1] = g.im;
    }
  }
}

template <typename T>
const T* real_ptr(const at::Tensor& t) {
  return reinterpret_cast<const T*>(t.data_ptr());
}

template <typename T>
T* real_ptr_mut(at::Tensor& t) {
  return reinterpret_cast<T*>(t.data_ptr());
}

}  // namespace

at::Tensor cauchy_conj_fwd_cuda(const at::Tensor& v, const at::Tensor& z, const at::Tensor& w) {
  const c10::cuda::CUDAGuard guard(v.device());
  const int64_t rows = v.size(0), n_modes = v.size(1), length = z.size(0);
  auto out = at::empty({rows, length}, v.options());
  if (rows == 0 || length == 0) return out;
  const int64_t node_tiles = (length + kFwdThreads - 1) / kFwdThreads;
  TORCH_CHECK(rows < (int64_t(1) << 31) && node_tiles <= 65535, "cauchy_conj: too many rows/nodes");
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(node_tiles));
  auto stream = c10::cuda::getCurrentCUDAStream();
  if (v.scalar_type() == at::kComplexFloat) {
    cauchy_conj_fwd_kernel<float><<<grid, kFwdThreads, 0, stream>>>(
        real_ptr<float>(v), real_ptr<float>(z), real_ptr<float>(w), real_ptr_mut<float>(out),
        n_modes, length);
  } else {
    cauchy_conj_fwd_kernel<double><<<grid, kFwdThreads, 0, stream>>>(
        real_ptr<double>(v), real_ptr<double>(z), real_ptr<double>(w), real_ptr_mut<double>(out),
        n_modes, length);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

std::tuple<at::Tensor, at::Tensor> cauchy_conj_bwd_cuda(const at::Tensor& v, const at::Tensor& z,
                                                        const at::Tensor& w,
                                                        const at::Tensor& grad) {
  const c10::cuda::CUDAGuard guard(v.device());
  const int64_t rows = v.size(0), n_modes = v.size(1), length = z.size(0);
  auto dv = at::zeros_like(v);
  auto dw = at::zeros_like(w);
  if (rows == 0 || n_modes == 0) return {dv, dw};
  TORCH_CHECK(rows * n_modes < (int64_t(1) << 31), "cauchy_conj: too many rows * modes");
  const dim3 grid(static_cast<unsigned>(rows * n_modes));
  auto stream = c10::cuda::getCurrentCUDAStream();
  if (v.scalar_type() == at::kComplexFloat) {
    cauchy_conj_bwd_kernel<float><<<grid, kBwdThreads, 0, stream>>>(
        real_ptr<float>(v), real_ptr<float>(z), real_ptr<float>(w), real_ptr<float>(grad),
        real_ptr_mut<float>(dv), real_ptr_mut<float>(dw), n_modes, length);
  } else {
    cauchy_conj_bwd_kernel<double><<<grid, kBwdThreads, 0, stream>>>(
        real_ptr<double>(v), real_ptr<double>(z), real_ptr<double>(w), real_ptr<double>(grad),
        real_ptr_mut<double>(dv), real_ptr_mut<double>(dw), n_modes, length);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {dv, dw};
}
