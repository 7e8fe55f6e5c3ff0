// Argument checks shared by the CPU and CUDA kernels.
#include "mask_blend_tv.h"

#include <c10/util/Exception.h>

namespace blackbox_saliency {

namespace {

bool is_supported_dtype(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble;
}

void check_grad(const std::optional<at::Tensor>& grad, const char* name, at::IntArrayRef sizes, const at::Tensor& like) {
  if (!grad.has_value() || !grad->defined()) {
    return;
  }
  TORCH_CHECK(grad->sizes() == sizes, "mask_blend_tv_backward: `", name, "` must have shape ", sizes, ", got ", grad->sizes(), ".");
  TORCH_CHECK(grad->scalar_type() == like.scalar_type(), "mask_blend_tv_backward: `", name, "` must have dtype ", like.scalar_type(),
              ", got ", grad->scalar_type(), ".");
  TORCH_CHECK(grad->device() == like.device(), "mask_blend_tv_backward: `", name, "` must be on ", like.device(), ", got ",
              grad->device(), ".");
}

}  // namespace

void check_forward_inputs(
    const at::Tensor& masks,
    const at::Tensor& images,
    const at::Tensor& alternative,
    c10::DeviceType expected_device) {
  TORCH_CHECK(masks.dim() == 4 && masks.size(1) == 1, "mask_blend_tv: `masks` must have shape (B, 1, h, w), got ", masks.sizes(), ".");
  TORCH_CHECK(images.dim() == 4, "mask_blend_tv: `images` must have shape (B, C, H, W), got ", images.sizes(), ".");
  TORCH_CHECK(alternative.sizes() == images.sizes(), "mask_blend_tv: `alternative` must have the shape of `images` ", images.sizes(),
              ", got ", alternative.sizes(), ".");
  TORCH_CHECK(masks.size(0) == images.size(0), "mask_blend_tv: `masks` has batch ", masks.size(0), " but `images` has batch ",
              images.size(0), ".");
  TORCH_CHECK(masks.size(2) > 0 && masks.size(3) > 0 && images.size(2) > 0 && images.size(3) > 0,
              "mask_blend_tv: spatial sizes must be positive, got masks ", masks.sizes(), " and images ", images.sizes(), ".");
  TORCH_CHECK(is_supported_dtype(images), "mask_blend_tv: `images` must be float32 or float64, got ", images.scalar_type(), ".");
  TORCH_CHECK(masks.scalar_type() == images.scalar_type() && alternative.scalar_type() == images.scalar_type(),
              "mask_blend_tv: `masks`, `images` and `alternative` must share one dtype, got ", masks.scalar_type(), ", ",
              images.scalar_type(), " and ", alternative.scalar_type(), ".");
  TORCH_CHECK(images.device().type() == expected_device, "mask_blend_tv: this kernel expects ", expected_device, " tensors, got ",
              images.device(), ".");
  TORCH_CHECK(masks.device() == images.device() && alternative.device() == images.device(),
              "mask_blend_tv: `masks`, `images` and `alternative` must be on one device, got ", masks.device(), ", ",
              images.device(), " and ", alternative.device(), ".");
}

void check_backward_grads(
    const std::optional<at::Tensor>& grad_upsampled,
    const std::optional<at::Tensor>& grad_preserved,
    const std::optional<at::Tensor>& grad_destroyed,
    const std::optional<at::Tensor>& grad_tv,
    const at::Tensor& masks,
    const at::Tensor& images) {
  const int64_t batch = images.size(0);
  check_grad(grad_upsampled, "grad_upsampled", {batch, 1, images.size(2), images.size(3)}, images);
  check_grad(grad_preserved, "grad_preserved", images.sizes(), images);
  check_grad(grad_destroyed, "grad_destroyed", images.sizes(), images);
  check_grad(grad_tv, "grad_tv", {batch}, images);
  (void)masks;
}

at::Tensor contiguous_or_undefined(const std::optional<at::Tensor>& grad) {
  if (!grad.has_value() || !grad->defined()) {
    return at::Tensor();
  }
  return grad->contiguous();
}

}  // namespace blackbox_saliency
