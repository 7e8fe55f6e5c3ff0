// Operator schemas (torch.library namespace `blackbox_saliency`) and the Python module
// `blackbox_saliency._C`. Kernels register themselves per device in mask_blend_tv_cpu.cpp and
// mask_blend_tv_cuda.cu; autograd and the fake (meta) kernels are registered from Python in
// blackbox_saliency/fast/ops.py.
#include <string>

#include <torch/extension.h>
#include <torch/library.h>
#include <torch/version.h>

TORCH_LIBRARY(blackbox_saliency, m) {
  m.set_python_module("blackbox_saliency.fast.ops");
  m.def(
      "mask_blend_tv(Tensor masks, Tensor images, Tensor alternative, bool with_destroyed) "
      "-> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "mask_blend_tv_backward(Tensor? grad_upsampled, Tensor? grad_preserved, Tensor? grad_destroyed, "
      "Tensor? grad_tv, Tensor masks, Tensor images, Tensor alternative, bool[3] output_mask) "
      "-> (Tensor, Tensor, Tensor)");
}

namespace {

bool cuda_compiled() {
#ifdef BLACKBOX_SALIENCY_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string built_torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.doc() = "Compiled kernels of blackbox_saliency (ops live in torch.ops.blackbox_saliency).";
  module.def("cuda_compiled", &cuda_compiled, "Whether the CUDA kernels were compiled into this build.");
  module.def("built_torch_version", &built_torch_version, "The torch version this extension was compiled against.");
}
