// Python bindings for the conjugate-symmetric Cauchy kernel (cauchy_kernel.cu).
// Shapes: v, w (rows, N) complex; z (L,) complex, same dtype and CUDA device; grad (rows, L).

#include <torch/extension.h>

#include <tuple>

at::Tensor cauchy_conj_fwd_cuda(const at::Tensor& v, const at::Tensor& z, const at::Tensor& w);
std::tuple<at::Tensor, at::Tensor> cauchy_conj_bwd_cuda(const at::Tensor& v, const at::Tensor& z,
                                                        const at::Tensor& w,
                                                        const at::Tensor& grad);

namespace {

void check_inputs(const at::Tensor& v, const at::Tensor& z, const at::Tensor& w) {
  for (const auto* t : {&v, &z, &w}) {
    TORCH_CHECK(t->is_cuda(), "cauchy_conj: tensors must be on CUDA");
    TORCH_CHECK(t->is_contiguous(), "cauchy_conj: tensors must be contiguous");
    TORCH_CHECK(t->scalar_type() == v.scalar_type(), "cauchy_conj: dtypes must match");
    TORCH_CHECK(t->device() == v.device(), "cauchy_conj: tensors must share a device");
  }
  TORCH_CHECK(v.scalar_type() == at::kComplexFloat || v.scalar_type() == at::kComplexDouble,
              "cauchy_conj: complex64 or complex128 expected");
  TORCH_CHECK(v.dim() == 2 && w.dim() == 2 && z.dim() == 1, "cauchy_conj: v, w (rows, N), z (L,)");
  TORCH_CHECK(v.sizes() == w.sizes(), "cauchy_conj: v and w shapes differ");
}

at::Tensor fwd(const at::Tensor& v, const at::Tensor& z, const at::Tensor& w) {
  check_inputs(v, z, w);
  return cauchy_conj_fwd_cuda(v, z, w);
}

std::tuple<at::Tensor, at::Tensor> bwd(const at::Tensor& v, const at::Tensor& z,
                                       const at::Tensor& w, const at::Tensor& grad) {
  check_inputs(v, z, w);
  TORCH_CHECK(grad.is_cuda() && grad.is_contiguous() && grad.scalar_type() == v.scalar_type(),
              "cauchy_conj: grad must be a contiguous CUDA tensor of the input dtype");
  TORCH_CHECK(grad.dim() == 2 && grad.size(0) == v.size(0) && grad.size(1) == z.size(0),
              "cauchy_conj: grad must be (rows, L)");
  return cauchy_conj_bwd_cuda(v, z, w, grad);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("cauchy_conj_fwd", &fwd, "sum_n v/(z-w) + conj(v)/(z-conj(w)) -> (rows, L)",
        py::arg("v"), py::arg("z"), py::arg("w"));
  m.def("cauchy_conj_bwd", &bwd, "gradients (dv, dw) for a grad of shape (rows, L)",
        py::arg("v"), py::arg("z"), py::arg("w"), py::arg("grad"));
}
