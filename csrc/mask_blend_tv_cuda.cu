// CUDA kernels of the fused mask upsample + blend + total variation.
//
// Forward: one thread per full-resolution pixel (b, y, x) computes the bilinear mask value once
// and blends every channel of X and A with it (coalesced along x); a block per sample reduces the
// total variation. Backward: a full-resolution kernel writes grad_images / grad_alternative and the
// per-pixel mask gradient sum_c (X-A)(gP-gD) + gU; a low-resolution kernel gathers, for each mask
// pixel, the full-resolution pixels that read it (deterministic, no atomics) and adds the TV
// gradient. Built with --fmad=false so the blend rounds like the unfused torch ops.
#include "interp.h"
#include "mask_blend_tv.h"

#include <algorithm>

#include <cuda_runtime_api.h>

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

namespace blackbox_saliency {

namespace {

constexpr int kThreads = 256;

// Grid-stride launches: enough blocks to fill the device, no more. (ATen/cuda/CUDAContext.h is
// avoided on purpose: it pulls in cuSPARSE/cuBLAS headers that a bare CUDA toolkit may lack.)
int64_t blocks_for(int64_t n) {
  int sm_count = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, c10::cuda::current_device()));
  const int64_t max_blocks = static_cast<int64_t>(std::max(sm_count, 1)) * 32;
  return std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, max_blocks));
}

template <typename scalar_t>
__device__ __forceinline__ scalar_t upsample_at(
    const scalar_t* __restrict__ mask,
    scalar_t scale_y,
    scalar_t scale_x,
    int64_t y,
    int64_t x,
    int64_t h,
    int64_t w,
    int64_t H,
    int64_t W) {
  int64_t y0, y1, x0, x1;
  scalar_t ly0, ly1, lx0, lx1;
  interp_taps<scalar_t>(scale_y, y, h, H, y0, y1, ly0, ly1);
  interp_taps<scalar_t>(scale_x, x, w, W, x0, x1, lx0, lx1);
  const scalar_t top = lx0 * mask[y0 * w + x0] + lx1 * mask[y0 * w + x1];
  const scalar_t bottom = lx0 * mask[y1 * w + x0] + lx1 * mask[y1 * w + x1];
  return ly0 * top + ly1 * bottom;
}

template <typename scalar_t>
__global__ void forward_kernel(
    const scalar_t* __restrict__ masks,
    const scalar_t* __restrict__ images,
    const scalar_t* __restrict__ alternative,
    scalar_t* __restrict__ upsampled,
    scalar_t* __restrict__ preserved,
    scalar_t* __restrict__ destroyed,
    int64_t B,
    int64_t C,
    int64_t h,
    int64_t w,
    int64_t H,
    int64_t W,
    scalar_t scale_y,
    scalar_t scale_x) {
  const int64_t plane = H * W;
  const int64_t total = B * plane;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t b = idx / plane;
    const int64_t pixel = idx - b * plane;
    const int64_t y = pixel / W;
    const int64_t x = pixel - y * W;
    const scalar_t u = upsample_at(masks + b * h * w, scale_y, scale_x, y, x, h, w, H, W);
    upsampled[idx] = u;
    const int64_t base = b * C * plane + pixel;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t offset = base + c * plane;
      const scalar_t xv = images[offset];
      const scalar_t av = alternative[offset];
      const scalar_t t = u * (xv - av);
      preserved[offset] = av + t;
      if (destroyed != nullptr) {
        destroyed[offset] = xv - t;
      }
    }
  }
}

template <typename scalar_t>
__global__ void total_variation_kernel(const scalar_t* __restrict__ masks, scalar_t* __restrict__ tv, int64_t h, int64_t w) {
  __shared__ double horizontal[kThreads];
  __shared__ double vertical[kThreads];
  const int64_t b = blockIdx.x;
  const scalar_t* m = masks + b * h * w;
  double hsum = 0.0;
  double vsum = 0.0;
  for (int64_t k = threadIdx.x; k < h * w; k += blockDim.x) {
    const int64_t i = k / w;
    const int64_t j = k - i * w;
    if (j + 1 < w) {
      const scalar_t d = m[k + 1] - m[k];
      hsum += static_cast<double>(d * d);
    }
    if (i + 1 < h) {
      const scalar_t d = m[k + w] - m[k];
      vsum += static_cast<double>(d * d);
    }
  }
  horizontal[threadIdx.x] = hsum;
  vertical[threadIdx.x] = vsum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      horizontal[threadIdx.x] += horizontal[threadIdx.x + stride];
      vertical[threadIdx.x] += vertical[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    double value = 0.0;
    if (w > 1) value += horizontal[0] / static_cast<double>(h * (w - 1));
    if (h > 1) value += vertical[0] / static_cast<double>((h - 1) * w);
    tv[b] = static_cast<scalar_t>(value);
  }
}

// grad_X = gD + U*(gP-gD), grad_A = gP - U*(gP-gD), grad_U = gU + sum_c (X-A)*(gP-gD);
// absent output gradients read as 0.
template <typename scalar_t, bool kHasP, bool kHasD>
__global__ void backward_full_kernel(
    const scalar_t* __restrict__ grad_upsampled,
    const scalar_t* __restrict__ grad_preserved,
    const scalar_t* __restrict__ grad_destroyed,
    const scalar_t* __restrict__ masks,
    const scalar_t* __restrict__ images,
    const scalar_t* __restrict__ alternative,
    scalar_t* __restrict__ grad_images,
    scalar_t* __restrict__ grad_alternative,
    scalar_t* __restrict__ grad_full,
    int64_t B,
    int64_t C,
    int64_t h,
    int64_t w,
    int64_t H,
    int64_t W,
    scalar_t scale_y,
    scalar_t scale_x) {
  const int64_t plane = H * W;
  const int64_t total = B * plane;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t b = idx / plane;
    const int64_t pixel = idx - b * plane;
    const int64_t y = pixel / W;
    const int64_t x = pixel - y * W;
    const scalar_t u = upsample_at(masks + b * h * w, scale_y, scale_x, y, x, h, w, H, W);
    scalar_t acc = grad_upsampled != nullptr ? grad_upsampled[idx] : scalar_t(0);
    const int64_t base = b * C * plane + pixel;
    for (int64_t c = 0; (kHasP || kHasD) && c < C; ++c) {
      const int64_t offset = base + c * plane;
      const scalar_t p = kHasP ? grad_preserved[offset] : scalar_t(0);
      const scalar_t d = kHasD ? grad_destroyed[offset] : scalar_t(0);
      const scalar_t g = p - d;
      if (grad_images != nullptr) grad_images[offset] = d + u * g;
      if (grad_alternative != nullptr) grad_alternative[offset] = p - u * g;
      if (grad_full != nullptr) acc += (images[offset] - alternative[offset]) * g;
    }
    if (grad_full != nullptr) grad_full[idx] = acc;
  }
}

template <typename scalar_t>
__global__ void backward_low_kernel(
    const scalar_t* __restrict__ grad_full,
    const scalar_t* __restrict__ grad_tv,
    const scalar_t* __restrict__ masks,
    scalar_t* __restrict__ grad_masks,
    int64_t B,
    int64_t h,
    int64_t w,
    int64_t H,
    int64_t W,
    scalar_t scale_y,
    scalar_t scale_x,
    scalar_t tv_h,
    scalar_t tv_v) {
  const int64_t plane = h * w;
  const int64_t total = B * plane;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t b = idx / plane;
    const int64_t k = idx - b * plane;
    const int64_t i = k / w;
    const int64_t j = k - i * w;
    scalar_t acc = 0;
    if (grad_full != nullptr) {
      int64_t y_lo, y_hi, x_lo, x_hi;
      interp_inverse_range<scalar_t>(scale_y, i, h, H, y_lo, y_hi);
      interp_inverse_range<scalar_t>(scale_x, j, w, W, x_lo, x_hi);
      for (int64_t y = y_lo; y < y_hi; ++y) {
        bool reads_y = false;
        const scalar_t wy = interp_weight_of<scalar_t>(scale_y, y, i, h, H, reads_y);
        if (!reads_y) continue;
        const scalar_t* row = grad_full + (b * H + y) * W;
        scalar_t row_acc = 0;
        for (int64_t x = x_lo; x < x_hi; ++x) {
          bool reads_x = false;
          const scalar_t wx = interp_weight_of<scalar_t>(scale_x, x, j, w, W, reads_x);
          if (reads_x) row_acc += wx * row[x];
        }
        acc += wy * row_acc;
      }
    }
    if (grad_tv != nullptr) {
      const scalar_t* m = masks + b * plane + k;
      const scalar_t g = grad_tv[b];
      const scalar_t ch = tv_h * g;
      const scalar_t cv = tv_v * g;
      scalar_t value = 0;
      if (j > 0) value += ch * (m[0] - m[-1]);
      if (j + 1 < w) value -= ch * (m[1] - m[0]);
      if (i > 0) value += cv * (m[0] - m[-w]);
      if (i + 1 < h) value -= cv * (m[w] - m[0]);
      acc += value;
    }
    grad_masks[idx] = acc;
  }
}

template <typename scalar_t>
const scalar_t* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.const_data_ptr<scalar_t>() : nullptr;
}

ForwardResult mask_blend_tv_cuda(
    const at::Tensor& masks_in,
    const at::Tensor& images_in,
    const at::Tensor& alternative_in,
    bool with_destroyed) {
  check_forward_inputs(masks_in, images_in, alternative_in, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(images_in.device());
  const at::Tensor masks = masks_in.contiguous();
  const at::Tensor images = images_in.contiguous();
  const at::Tensor alternative = alternative_in.contiguous();
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t h = masks.size(2), w = masks.size(3);
  at::Tensor upsampled = at::empty({B, 1, H, W}, images.options());
  at::Tensor preserved = at::empty({B, C, H, W}, images.options());
  at::Tensor destroyed = with_destroyed ? at::empty({B, C, H, W}, images.options()) : at::empty({0}, images.options());
  at::Tensor tv = at::empty({B}, images.options());
  if (B == 0) {
    return {upsampled, preserved, destroyed, tv};
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(images.scalar_type(), "mask_blend_tv_cuda", [&] {
    const scalar_t scale_y = interp_scale<scalar_t>(h, H);
    const scalar_t scale_x = interp_scale<scalar_t>(w, W);
    forward_kernel<scalar_t><<<blocks_for(B * H * W), kThreads, 0, stream>>>(
        masks.const_data_ptr<scalar_t>(), images.const_data_ptr<scalar_t>(), alternative.const_data_ptr<scalar_t>(),
        upsampled.mutable_data_ptr<scalar_t>(), preserved.mutable_data_ptr<scalar_t>(),
        with_destroyed ? destroyed.mutable_data_ptr<scalar_t>() : nullptr, B, C, h, w, H, W, scale_y, scale_x);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    total_variation_kernel<scalar_t><<<B, kThreads, 0, stream>>>(masks.const_data_ptr<scalar_t>(), tv.mutable_data_ptr<scalar_t>(), h, w);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {upsampled, preserved, destroyed, tv};
}

template <typename scalar_t, bool kHasP, bool kHasD>
void launch_backward_full(
    const at::Tensor& grad_upsampled,
    const at::Tensor& grad_preserved,
    const at::Tensor& grad_destroyed,
    const at::Tensor& masks,
    const at::Tensor& images,
    const at::Tensor& alternative,
    scalar_t* grad_images,
    scalar_t* grad_alternative,
    scalar_t* grad_full,
    cudaStream_t stream) {
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t h = masks.size(2), w = masks.size(3);
  backward_full_kernel<scalar_t, kHasP, kHasD><<<blocks_for(B * H * W), kThreads, 0, stream>>>(
      data_or_null<scalar_t>(grad_upsampled), data_or_null<scalar_t>(grad_preserved), data_or_null<scalar_t>(grad_destroyed),
      masks.const_data_ptr<scalar_t>(), images.const_data_ptr<scalar_t>(), alternative.const_data_ptr<scalar_t>(), grad_images,
      grad_alternative, grad_full, B, C, h, w, H, W, interp_scale<scalar_t>(h, H), interp_scale<scalar_t>(w, W));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

BackwardResult mask_blend_tv_backward_cuda(
    const std::optional<at::Tensor>& grad_upsampled_in,
    const std::optional<at::Tensor>& grad_preserved_in,
    const std::optional<at::Tensor>& grad_destroyed_in,
    const std::optional<at::Tensor>& grad_tv_in,
    const at::Tensor& masks_in,
    const at::Tensor& images_in,
    const at::Tensor& alternative_in,
    std::array<bool, 3> output_mask) {
  check_forward_inputs(masks_in, images_in, alternative_in, c10::DeviceType::CUDA);
  check_backward_grads(grad_upsampled_in, grad_preserved_in, grad_destroyed_in, grad_tv_in, masks_in, images_in);
  const c10::cuda::CUDAGuard guard(images_in.device());
  const at::Tensor masks = masks_in.contiguous();
  const at::Tensor images = images_in.contiguous();
  const at::Tensor alternative = alternative_in.contiguous();
  const at::Tensor grad_upsampled = contiguous_or_undefined(grad_upsampled_in);
  const at::Tensor grad_preserved = contiguous_or_undefined(grad_preserved_in);
  const at::Tensor grad_destroyed = contiguous_or_undefined(grad_destroyed_in);
  const at::Tensor grad_tv = contiguous_or_undefined(grad_tv_in);
  const bool has_p = grad_preserved.defined();
  const bool has_d = grad_destroyed.defined();
  const bool has_full_res = has_p || has_d;
  const auto options = images.options();
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  const int64_t h = masks.size(2), w = masks.size(3);
  at::Tensor grad_masks = output_mask[0] ? at::empty(masks.sizes(), options) : at::empty({0}, options);
  auto image_grad = [&](bool needed) {
    if (!needed) return at::empty({0}, options);
    return has_full_res ? at::empty(images.sizes(), options) : at::zeros(images.sizes(), options);
  };
  at::Tensor grad_images = image_grad(output_mask[1]);
  at::Tensor grad_alternative = image_grad(output_mask[2]);
  if (B == 0) {
    return {grad_masks, grad_images, grad_alternative};
  }
  const bool reduce = output_mask[0] && (has_full_res || grad_upsampled.defined());
  at::Tensor grad_full = reduce ? at::empty({B, H, W}, options) : at::Tensor();
  const bool write_images = output_mask[1] && has_full_res && grad_images.numel() > 0;
  const bool write_alternative = output_mask[2] && has_full_res && grad_alternative.numel() > 0;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(images.scalar_type(), "mask_blend_tv_backward_cuda", [&] {
    scalar_t* gx = write_images ? grad_images.mutable_data_ptr<scalar_t>() : nullptr;
    scalar_t* ga = write_alternative ? grad_alternative.mutable_data_ptr<scalar_t>() : nullptr;
    scalar_t* gf = reduce ? grad_full.mutable_data_ptr<scalar_t>() : nullptr;
    if (reduce || gx != nullptr || ga != nullptr) {
      if (has_p && has_d) {
        launch_backward_full<scalar_t, true, true>(grad_upsampled, grad_preserved, grad_destroyed, masks, images, alternative, gx, ga, gf, stream);
      } else if (has_p) {
        launch_backward_full<scalar_t, true, false>(grad_upsampled, grad_preserved, grad_destroyed, masks, images, alternative, gx, ga, gf, stream);
      } else if (has_d) {
        launch_backward_full<scalar_t, false, true>(grad_upsampled, grad_preserved, grad_destroyed, masks, images, alternative, gx, ga, gf, stream);
      } else {
        launch_backward_full<scalar_t, false, false>(grad_upsampled, grad_preserved, grad_destroyed, masks, images, alternative, gx, ga, gf, stream);
      }
    }
    if (output_mask[0]) {
      const scalar_t tv_h = w > 1 ? static_cast<scalar_t>(2.0 / static_cast<double>(h * (w - 1))) : scalar_t(0);
      const scalar_t tv_v = h > 1 ? static_cast<scalar_t>(2.0 / static_cast<double>((h - 1) * w)) : scalar_t(0);
      backward_low_kernel<scalar_t><<<blocks_for(B * h * w), kThreads, 0, stream>>>(
          gf, data_or_null<scalar_t>(grad_tv), masks.const_data_ptr<scalar_t>(), grad_masks.mutable_data_ptr<scalar_t>(), B, h, w, H, W,
          interp_scale<scalar_t>(h, H), interp_scale<scalar_t>(w, W), tv_h, tv_v);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return {grad_masks, grad_images, grad_alternative};
}

}  // namespace

TORCH_LIBRARY_IMPL(blackbox_saliency, CUDA, m) {
  m.impl("mask_blend_tv", &mask_blend_tv_cuda);
  m.impl("mask_blend_tv_backward", &mask_blend_tv_backward_cuda);
}

}  // namespace blackbox_saliency
