// Bilinear (align_corners=False) tap computation shared by the CPU and CUDA kernels.
//
// The arithmetic mirrors ATen's upsample_bilinear2d (aten/src/ATen/native/UpSample.h):
//   scale = in / out (computed in opmath), src = scale * (dst + 0.5) - 0.5 clamped at 0,
//   i0 = min(floor(src), in - 1), i1 = i0 + (i0 < in - 1), l1 = clamp(src - i0, 0, 1), l0 = 1 - l1,
// and the identity (in == out) copies. Output value = l0y * (l0x*m[i0y,i0x] + l1x*m[i0y,i1x])
//                                                 + l1y * (l0x*m[i1y,i0x] + l1x*m[i1y,i1x]).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define BBS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define BBS_HOST_DEVICE inline
#endif

namespace blackbox_saliency {

template <typename opmath_t>
BBS_HOST_DEVICE opmath_t interp_scale(int64_t in_size, int64_t out_size) {
  return static_cast<opmath_t>(in_size) / static_cast<opmath_t>(out_size);
}

// Taps of output index `dst` along one axis.
template <typename opmath_t>
BBS_HOST_DEVICE void interp_taps(
    opmath_t scale,
    int64_t dst,
    int64_t in_size,
    int64_t out_size,
    int64_t& i0,
    int64_t& i1,
    opmath_t& l0,
    opmath_t& l1) {
  if (in_size == out_size) {
    i0 = dst;
    i1 = dst;
    l0 = static_cast<opmath_t>(1);
    l1 = static_cast<opmath_t>(0);
    return;
  }
  opmath_t src = scale * (static_cast<opmath_t>(dst) + static_cast<opmath_t>(0.5)) - static_cast<opmath_t>(0.5);
  if (src < static_cast<opmath_t>(0)) {
    src = static_cast<opmath_t>(0);
  }
  int64_t index = static_cast<int64_t>(src);  // src >= 0: truncation is floor
  if (index > in_size - 1) {
    index = in_size - 1;
  }
  opmath_t lambda = src - static_cast<opmath_t>(index);
  lambda = lambda < static_cast<opmath_t>(0) ? static_cast<opmath_t>(0) : lambda;
  lambda = lambda > static_cast<opmath_t>(1) ? static_cast<opmath_t>(1) : lambda;
  i0 = index;
  i1 = index + (index < in_size - 1 ? 1 : 0);
  l1 = lambda;
  l0 = static_cast<opmath_t>(1) - lambda;
}

// Weight with which output index `dst` reads input index `src_index` (0 when it does not read it).
template <typename opmath_t>
BBS_HOST_DEVICE opmath_t interp_weight_of(
    opmath_t scale,
    int64_t dst,
    int64_t src_index,
    int64_t in_size,
    int64_t out_size,
    bool& reads) {
  int64_t i0, i1;
  opmath_t l0, l1;
  interp_taps<opmath_t>(scale, dst, in_size, out_size, i0, i1, l0, l1);
  opmath_t weight = static_cast<opmath_t>(0);
  reads = false;
  if (i0 == src_index) {
    weight += l0;
    reads = true;
  }
  if (i1 == src_index) {
    weight += l1;
    reads = true;
  }
  return weight;
}

// A range [lo, hi) of output indices that contains every output index whose taps read input
// index `src_index` (a superset: callers check each candidate with interp_weight_of). The
// inverse of src = scale*(dst+0.5)-0.5 is dst = (src+0.5)/scale-0.5; outputs reading
// `src_index` have floor(src) in {src_index-1, src_index}, i.e. src in [src_index-1, src_index+1),
// widened by 2 on each side against rounding; the clamped ends are covered explicitly.
template <typename opmath_t>
BBS_HOST_DEVICE void interp_inverse_range(
    opmath_t scale,
    int64_t src_index,
    int64_t in_size,
    int64_t out_size,
    int64_t& lo,
    int64_t& hi) {
  if (in_size == out_size) {
    lo = src_index;
    hi = src_index + 1;
    return;
  }
  const double s = static_cast<double>(scale);
  double first = (static_cast<double>(src_index) - 0.5) / s - 0.5;
  double last = (static_cast<double>(src_index) + 1.5) / s - 0.5;
  lo = src_index <= 1 ? 0 : static_cast<int64_t>(floor(first)) - 2;
  hi = src_index >= in_size - 1 ? out_size : static_cast<int64_t>(ceil(last)) + 3;
  lo = lo < 0 ? 0 : lo;
  lo = lo > out_size ? out_size : lo;
  hi = hi > out_size ? out_size : hi;
  hi = hi < lo ? lo : hi;
}

}  // namespace blackbox_saliency
