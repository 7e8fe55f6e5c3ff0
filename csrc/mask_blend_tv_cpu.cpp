// CPU kernels of the fused mask upsample + blend + total variation.
//
// Forward: one task per full-resolution row (b, y). The bilinear weights of the row are computed
// once, the upsampled row is written, then every channel of X and A is blended against it in a
// contiguous loop the compiler vectorises. Backward: the same rows produce grad_images and
// grad_alternative, and the per-pixel mask gradient sum_c (X-A)(gP-gD) + gU is reduced along the
// width into a (B, H, w) buffer right away; a second pass over low-resolution rows (b, i) gathers
// the output rows that read row i (no races, deterministic) and adds the TV gradient.
#include "interp.h"
#include "mask_blend_tv.h"

#include <algorithm>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

namespace blackbox_saliency {

namespace {

// Element-operations per task below which a parallel region costs more than it saves.
constexpr int64_t kGrainElements = 131072;

template <typename scalar_t>
struct AxisTaps {
  std::vector<int64_t> i0, i1;
  std::vector<scalar_t> l0, l1;

  AxisTaps(int64_t in_size, int64_t out_size) : i0(out_size), i1(out_size), l0(out_size), l1(out_size) {
    const scalar_t scale = interp_scale<scalar_t>(in_size, out_size);
    for (int64_t o = 0; o < out_size; ++o) {
      interp_taps<scalar_t>(scale, o, in_size, out_size, i0[o], i1[o], l0[o], l1[o]);
    }
  }
};

int64_t grain_for(int64_t elements_per_task) {
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, elements_per_task));
}

// One upsampled row: out[x] = ly0 * (lx0*r0[i0x] + lx1*r0[i1x]) + ly1 * (lx0*r1[i0x] + lx1*r1[i1x]).
template <typename scalar_t>
inline void upsample_row(
    const scalar_t* __restrict__ mask,
    const AxisTaps<scalar_t>& ty,
    const AxisTaps<scalar_t>& tx,
    int64_t y,
    int64_t w,
    int64_t W,
    scalar_t* __restrict__ out) {
  const scalar_t* r0 = mask + ty.i0[y] * w;
  const scalar_t* r1 = mask + ty.i1[y] * w;
  const scalar_t ly0 = ty.l0[y];
  const scalar_t ly1 = ty.l1[y];
  const int64_t* __restrict__ i0 = tx.i0.data();
  const int64_t* __restrict__ i1 = tx.i1.data();
  const scalar_t* __restrict__ lx0 = tx.l0.data();
  const scalar_t* __restrict__ lx1 = tx.l1.data();
  for (int64_t x = 0; x < W; ++x) {
    const scalar_t top = lx0[x] * r0[i0[x]] + lx1[x] * r0[i1[x]];
    const scalar_t bottom = lx0[x] * r1[i0[x]] + lx1[x] * r1[i1[x]];
    out[x] = ly0 * top + ly1 * bottom;
  }
}

// preserved = A + U*(X-A); destroyed = X - U*(X-A) (the reference's exact arithmetic).
template <typename scalar_t>
inline void blend_row(
    const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ a,
    const scalar_t* __restrict__ u,
    scalar_t* __restrict__ preserved,
    scalar_t* __restrict__ destroyed,
    int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t t = u[i] * (x[i] - a[i]);
    preserved[i] = a[i] + t;
    destroyed[i] = x[i] - t;
  }
}

template <typename scalar_t>
inline void preserve_row(
    const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ a,
    const scalar_t* __restrict__ u,
    scalar_t* __restrict__ preserved,
    int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    preserved[i] = a[i] + u[i] * (x[i] - a[i]);
  }
}

template <typename scalar_t>
void total_variation(const scalar_t* masks, scalar_t* tv, int64_t B, int64_t h, int64_t w) {
  at::parallel_for(0, B, grain_for(h * w), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const scalar_t* m = masks + b * h * w;
      double horizontal = 0.0;
      double vertical = 0.0;
      for (int64_t i = 0; i < h; ++i) {
        const scalar_t* row = m + i * w;
        for (int64_t j = 0; j + 1 < w; ++j) {
          const scalar_t d = row[j + 1] - row[j];
          horizontal += static_cast<double>(d * d);
        }
        if (i + 1 < h) {
          const scalar_t* next = row + w;
          for (int64_t j = 0; j < w; ++j) {
            const scalar_t d = next[j] - row[j];
            vertical += static_cast<double>(d * d);
          }
        }
      }
      double value = 0.0;
      if (w > 1) {
        value += horizontal / static_cast<double>(h * (w - 1));
      }
      if (h > 1) {
        value += vertical / static_cast<double>((h - 1) * w);
      }
      tv[b] = static_cast<scalar_t>(value);
    }
  });
}

template <typename scalar_t>
void forward_impl(
    const scalar_t* masks,
    const scalar_t* images,
    const scalar_t* alternative,
    scalar_t* upsampled,
    scalar_t* preserved,
    scalar_t* destroyed,
    scalar_t* tv,
    int64_t B,
    int64_t C,
    int64_t h,
    int64_t w,
    int64_t H,
    int64_t W) {
  const AxisTaps<scalar_t> ty(h, H);
  const AxisTaps<scalar_t> tx(w, W);
  const int64_t plane = H * W;
  at::parallel_for(0, B * H, grain_for(W * (2 * C + 1)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / H;
      const int64_t y = row % H;
      scalar_t* u = upsampled + b * plane + y * W;
      upsample_row(masks + b * h * w, ty, tx, y, w, W, u);
      for (int64_t c = 0; c < C; ++c) {
        const int64_t offset = (b * C + c) * plane + y * W;
        if (destroyed != nullptr) {
          blend_row(images + offset, alternative + offset, u, preserved + offset, destroyed + offset, W);
        } else {
          preserve_row(images + offset, alternative + offset, u, preserved + offset, W);
        }
      }
    }
  });
  total_variation(masks, tv, B, h, w);
}

// Per-channel gradients of one row, with absent output gradients read as 0:
//   g = gP - gD;  grad_X = gD + U*g;  grad_A = gP - U*g;  grad_U += (X - A)*g.
template <typename scalar_t, bool kHasP, bool kHasD>
inline void backward_row(
    const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ a,
    const scalar_t* __restrict__ u,
    const scalar_t* __restrict__ gp,
    const scalar_t* __restrict__ gd,
    scalar_t* __restrict__ gx,
    scalar_t* __restrict__ ga,
    scalar_t* __restrict__ gu,
    int64_t n) {
  if (gx != nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      const scalar_t p = kHasP ? gp[i] : scalar_t(0);
      const scalar_t d = kHasD ? gd[i] : scalar_t(0);
      gx[i] = d + u[i] * (p - d);
    }
  }
  if (ga != nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      const scalar_t p = kHasP ? gp[i] : scalar_t(0);
      const scalar_t d = kHasD ? gd[i] : scalar_t(0);
      ga[i] = p - u[i] * (p - d);
    }
  }
  if (gu != nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      const scalar_t p = kHasP ? gp[i] : scalar_t(0);
      const scalar_t d = kHasD ? gd[i] : scalar_t(0);
      gu[i] += (x[i] - a[i]) * (p - d);
    }
  }
}

template <typename scalar_t>
struct BackwardArgs {
  const scalar_t* grad_upsampled;  // nullable
  const scalar_t* grad_preserved;  // nullable
  const scalar_t* grad_destroyed;  // nullable
  const scalar_t* grad_tv;         // nullable
  const scalar_t* masks;
  const scalar_t* images;
  const scalar_t* alternative;
  scalar_t* grad_masks;        // nullable
  scalar_t* grad_images;       // nullable
  scalar_t* grad_alternative;  // nullable
  int64_t B, C, h, w, H, W;
};

template <typename scalar_t, bool kHasP, bool kHasD>
void full_resolution_pass(const BackwardArgs<scalar_t>& args, const AxisTaps<scalar_t>& ty, const AxisTaps<scalar_t>& tx,
                          scalar_t* width_reduced) {
  const int64_t C = args.C, h = args.h, w = args.w, H = args.H, W = args.W;
  const int64_t plane = H * W;
  const bool need_mask = width_reduced != nullptr;
  at::parallel_for(0, args.B * H, grain_for(W * (4 * C + 2)), [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> u(W);
    std::vector<scalar_t> gu(need_mask ? W : 0);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / H;
      const int64_t y = row % H;
      upsample_row(args.masks + b * h * w, ty, tx, y, w, W, u.data());
      if (need_mask) {
        if (args.grad_upsampled != nullptr) {
          std::copy_n(args.grad_upsampled + b * plane + y * W, W, gu.data());
        } else {
          std::fill(gu.begin(), gu.end(), scalar_t(0));
        }
      }
      for (int64_t c = 0; (kHasP || kHasD) && c < C; ++c) {
        const int64_t offset = (b * C + c) * plane + y * W;
        backward_row<scalar_t, kHasP, kHasD>(
            args.images + offset, args.alternative + offset, u.data(),
            kHasP ? args.grad_preserved + offset : nullptr,
            kHasD ? args.grad_destroyed + offset : nullptr,
            args.grad_images != nullptr ? args.grad_images + offset : nullptr,
            args.grad_alternative != nullptr ? args.grad_alternative + offset : nullptr,
            need_mask ? gu.data() : nullptr, W);
      }
      if (need_mask) {
        // Transposed horizontal interpolation of this row: (W,) -> (w,).
        scalar_t* out = width_reduced + row * w;
        std::fill(out, out + w, scalar_t(0));
        for (int64_t x = 0; x < W; ++x) {
          out[tx.i0[x]] += tx.l0[x] * gu[x];
          out[tx.i1[x]] += tx.l1[x] * gu[x];
        }
      }
    }
  });
}

template <typename scalar_t>
void low_resolution_pass(const BackwardArgs<scalar_t>& args, const scalar_t* width_reduced) {
  const int64_t h = args.h, w = args.w, H = args.H;
  const scalar_t scale_y = interp_scale<scalar_t>(h, H);
  const double tv_h = w > 1 ? 2.0 / static_cast<double>(h * (w - 1)) : 0.0;
  const double tv_v = h > 1 ? 2.0 / static_cast<double>((h - 1) * w) : 0.0;
  at::parallel_for(0, args.B * h, grain_for(w * std::max<int64_t>(4, 2 * H / h + 4)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / h;
      const int64_t i = row % h;
      scalar_t* out = args.grad_masks + row * w;
      std::fill(out, out + w, scalar_t(0));
      if (width_reduced != nullptr) {
        int64_t lo, hi;
        interp_inverse_range<scalar_t>(scale_y, i, h, H, lo, hi);
        for (int64_t y = lo; y < hi; ++y) {
          bool reads = false;
          const scalar_t weight = interp_weight_of<scalar_t>(scale_y, y, i, h, H, reads);
          if (!reads) {
            continue;
          }
          const scalar_t* src = width_reduced + (b * H + y) * w;
          for (int64_t j = 0; j < w; ++j) {
            out[j] += weight * src[j];
          }
        }
      }
      if (args.grad_tv != nullptr) {
        const scalar_t* m = args.masks + row * w;
        const scalar_t g = args.grad_tv[b];
        const scalar_t ch = static_cast<scalar_t>(tv_h) * g;
        const scalar_t cv = static_cast<scalar_t>(tv_v) * g;
        for (int64_t j = 0; j < w; ++j) {
          scalar_t value = 0;
          if (j > 0) value += ch * (m[j] - m[j - 1]);
          if (j + 1 < w) value -= ch * (m[j + 1] - m[j]);
          if (i > 0) value += cv * (m[j] - m[j - w]);
          if (i + 1 < h) value -= cv * (m[j + w] - m[j]);
          out[j] += value;
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_impl(const BackwardArgs<scalar_t>& args) {
  const bool need_mask = args.grad_masks != nullptr;
  const bool has_p = args.grad_preserved != nullptr;
  const bool has_d = args.grad_destroyed != nullptr;
  const bool full_res_grads = has_p || has_d || args.grad_upsampled != nullptr;
  const AxisTaps<scalar_t> ty(args.h, args.H);
  const AxisTaps<scalar_t> tx(args.w, args.W);
  const bool reduce = need_mask && full_res_grads;
  // (B, H, w): the mask gradient of every full-resolution row, already reduced along the width.
  at::Tensor width_reduced = reduce ? at::empty({args.B * args.H * args.w}, at::TensorOptions().dtype(c10::CppTypeToScalarType<scalar_t>::value))
                                    : at::Tensor();
  scalar_t* wr = reduce ? width_reduced.mutable_data_ptr<scalar_t>() : nullptr;
  if (reduce || args.grad_images != nullptr || args.grad_alternative != nullptr) {
    if (has_p && has_d) {
      full_resolution_pass<scalar_t, true, true>(args, ty, tx, wr);
    } else if (has_p) {
      full_resolution_pass<scalar_t, true, false>(args, ty, tx, wr);
    } else if (has_d) {
      full_resolution_pass<scalar_t, false, true>(args, ty, tx, wr);
    } else {
      full_resolution_pass<scalar_t, false, false>(args, ty, tx, wr);
    }
  }
  if (need_mask) {
    low_resolution_pass(args, wr);
  }
}

template <typename scalar_t>
const scalar_t* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.const_data_ptr<scalar_t>() : nullptr;
}

template <typename scalar_t>
scalar_t* mutable_data_or_null(at::Tensor& t) {
  return t.numel() > 0 ? t.mutable_data_ptr<scalar_t>() : nullptr;
}

}  // namespace

ForwardResult mask_blend_tv_cpu(
    const at::Tensor& masks_in,
    const at::Tensor& images_in,
    const at::Tensor& alternative_in,
    bool with_destroyed) {
  check_forward_inputs(masks_in, images_in, alternative_in, c10::DeviceType::CPU);
  const at::Tensor masks = masks_in.contiguous();
  const at::Tensor images = images_in.contiguous();
  const at::Tensor alternative = alternative_in.contiguous();
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t h = masks.size(2), w = masks.size(3);
  at::Tensor upsampled = at::empty({B, 1, H, W}, images.options());
  at::Tensor preserved = at::empty({B, C, H, W}, images.options());
  at::Tensor destroyed = with_destroyed ? at::empty({B, C, H, W}, images.options()) : at::empty({0}, images.options());
  at::Tensor tv = at::empty({B}, images.options());
  if (B > 0) {
    AT_DISPATCH_FLOATING_TYPES(images.scalar_type(), "mask_blend_tv_cpu", [&] {
      forward_impl<scalar_t>(
          masks.const_data_ptr<scalar_t>(), images.const_data_ptr<scalar_t>(), alternative.const_data_ptr<scalar_t>(),
          upsampled.mutable_data_ptr<scalar_t>(), preserved.mutable_data_ptr<scalar_t>(),
          with_destroyed ? destroyed.mutable_data_ptr<scalar_t>() : nullptr, tv.mutable_data_ptr<scalar_t>(), B, C, h, w, H, W);
    });
  }
  return {upsampled, preserved, destroyed, tv};
}

BackwardResult mask_blend_tv_backward_cpu(
    const std::optional<at::Tensor>& grad_upsampled_in,
    const std::optional<at::Tensor>& grad_preserved_in,
    const std::optional<at::Tensor>& grad_destroyed_in,
    const std::optional<at::Tensor>& grad_tv_in,
    const at::Tensor& masks_in,
    const at::Tensor& images_in,
    const at::Tensor& alternative_in,
    std::array<bool, 3> output_mask) {
  check_forward_inputs(masks_in, images_in, alternative_in, c10::DeviceType::CPU);
  check_backward_grads(grad_upsampled_in, grad_preserved_in, grad_destroyed_in, grad_tv_in, masks_in, images_in);
  const at::Tensor masks = masks_in.contiguous();
  const at::Tensor images = images_in.contiguous();
  const at::Tensor alternative = alternative_in.contiguous();
  const at::Tensor grad_upsampled = contiguous_or_undefined(grad_upsampled_in);
  const at::Tensor grad_preserved = contiguous_or_undefined(grad_preserved_in);
  const at::Tensor grad_destroyed = contiguous_or_undefined(grad_destroyed_in);
  const at::Tensor grad_tv = contiguous_or_undefined(grad_tv_in);
  const bool has_full_res = grad_preserved.defined() || grad_destroyed.defined();
  const auto options = images.options();
  at::Tensor grad_masks = output_mask[0] ? at::empty(masks.sizes(), options) : at::empty({0}, options);
  // With no gradient reaching the blended images, their gradients are exactly zero.
  auto image_grad = [&](bool needed) {
    if (!needed) return at::empty({0}, options);
    return has_full_res ? at::empty(images.sizes(), options) : at::zeros(images.sizes(), options);
  };
  at::Tensor grad_images = image_grad(output_mask[1]);
  at::Tensor grad_alternative = image_grad(output_mask[2]);
  if (images.size(0) == 0) {
    return {grad_masks, grad_images, grad_alternative};
  }
  AT_DISPATCH_FLOATING_TYPES(images.scalar_type(), "mask_blend_tv_backward_cpu", [&] {
    BackwardArgs<scalar_t> args{
        data_or_null<scalar_t>(grad_upsampled),
        data_or_null<scalar_t>(grad_preserved),
        data_or_null<scalar_t>(grad_destroyed),
        data_or_null<scalar_t>(grad_tv),
        masks.const_data_ptr<scalar_t>(),
        images.const_data_ptr<scalar_t>(),
        alternative.const_data_ptr<scalar_t>(),
        output_mask[0] ? mutable_data_or_null<scalar_t>(grad_masks) : nullptr,
        output_mask[1] && has_full_res ? mutable_data_or_null<scalar_t>(grad_images) : nullptr,
        output_mask[2] && has_full_res ? mutable_data_or_null<scalar_t>(grad_alternative) : nullptr,
        images.size(0), images.size(1), masks.size(2), masks.size(3), images.size(2), images.size(3)};
    backward_impl<scalar_t>(args);
  });
  return {grad_masks, grad_images, grad_alternative};
}

TORCH_LIBRARY_IMPL(blackbox_saliency, CPU, m) {
  m.impl("mask_blend_tv", &mask_blend_tv_cpu);
  m.impl("mask_blend_tv_backward", &mask_blend_tv_backward_cpu);
}

}  // namespace blackbox_saliency
