// Fused mask upsample + blend + total variation: kernel declarations and shared checks.
//
// Forward:  (masks (B,1,h,w), images (B,C,H,W), alternative (B,C,H,W), with_destroyed)
//        -> (upsampled (B,1,H,W), preserved, destroyed or an empty (0,) tensor, tv (B,))
// Backward: optional output gradients plus the saved inputs -> (grad_masks, grad_images,
//           grad_alternative), each an empty (0,) tensor where output_mask says it is not needed.
#pragma once

#include <array>
#include <optional>
#include <tuple>

#include <ATen/core/Tensor.h>

namespace blackbox_saliency {

using ForwardResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;
using BackwardResult = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

// Checks ranks, shapes, dtypes (float32/float64) and devices; raises c10::Error naming the argument.
void check_forward_inputs(
    const at::Tensor& masks,
    const at::Tensor& images,
    const at::Tensor& alternative,
    c10::DeviceType expected_device);

// Checks that each given output gradient has its output's shape, dtype and device.
void check_backward_grads(
    const std::optional<at::Tensor>& grad_upsampled,
    const std::optional<at::Tensor>& grad_preserved,
    const std::optional<at::Tensor>& grad_destroyed,
    const std::optional<at::Tensor>& grad_tv,
    const at::Tensor& masks,
    const at::Tensor& images);

// A defined, contiguous gradient tensor, or an undefined one where the gradient is absent.
at::Tensor contiguous_or_undefined(const std::optional<at::Tensor>& grad);

ForwardResult mask_blend_tv_cpu(
    const at::Tensor& masks,
    const at::Tensor& images,
    const at::Tensor& alternative,
    bool with_destroyed);

BackwardResult mask_blend_tv_backward_cpu(
    const std::optional<at::Tensor>& grad_upsampled,
    const std::optional<at::Tensor>& grad_preserved,
    const std::optional<at::Tensor>& grad_destroyed,
    const std::optional<at::Tensor>& grad_tv,
    const at::Tensor& masks,
    const at::Tensor& images,
    const at::Tensor& alternative,
    std::array<bool, 3> output_mask);

}  // namespace blackbox_saliency
