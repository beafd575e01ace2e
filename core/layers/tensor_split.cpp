#include "core/layers/tensor_split.h"

#include <cstring>

#include "core/error.h"

namespace trainer {

static TensorCollectives& collectives(const TensorSplit& t) {
  if (!t.comm) throw InternalError("a tensor-parallel layer built for its costs was run");
  return *t.comm;
}

Tensor TensorSplit::sum_partials(Tensor& partial) const {
  if (!on()) return partial;
  if (!sequence) {
    collectives(*this).all_reduce_sum(partial);
    return partial;
  }
  Shape s = partial.shape();
  s.at(1) /= size;
  Tensor mine = Tensor::empty(s, partial.dtype(), partial.device());
  collectives(*this).reduce_scatter(partial, mine);
  return mine;
}

Tensor TensorSplit::all_rows(const Tensor& rows) const {
  if (!sequence_split()) return rows;
  Shape s = rows.shape();
  s.at(1) *= size;
  Tensor whole = Tensor::empty(s, rows.dtype(), rows.device());
  collectives(*this).all_gather(rows, whole);
  return whole;
}

Shape full_shape(const Shape& slice, const ParamSplit& s) {
  Shape full = slice;
  if (s.split()) full.at(static_cast<size_t>(s.dim)) *= s.parts;
  return full;
}

Shape slice_shape(const Shape& full, const ParamSplit& s) {
  Shape slice = full;
  if (s.split()) slice.at(static_cast<size_t>(s.dim)) /= s.parts;
  return slice;
}

// The full tensor seen as (outer, groups, parts, chunk x inner): the slice is part `s.part` of
// each (outer, group), `chunk x inner` contiguous elements each.
template <class Copy>
static void for_each_run(const Shape& full, const ParamSplit& s, Copy copy) {
  const auto d = static_cast<size_t>(s.dim);
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < d; ++i) outer *= full[i];
  for (size_t i = d + 1; i < full.size(); ++i) inner *= full[i];
  const int64_t chunk = full[d] / s.groups / s.parts, run = chunk * inner;
  for (int64_t o = 0; o < outer * s.groups; ++o)
    copy((o * s.parts + s.part) * run, o * run, run);  // (full offset, slice offset, elements)
}

Tensor take_slice(const Tensor& full, const ParamSplit& s) {
  if (!s.split()) return full;
  Tensor slice = Tensor::empty(slice_shape(full.shape(), s));
  const float* from = full.f32();
  float* to = slice.f32();
  for_each_run(full.shape(), s, [&](int64_t f, int64_t p, int64_t n) {
    std::memcpy(to + p, from + f, static_cast<size_t>(n) * sizeof(float));
  });
  return slice;
}

void put_slice(Tensor& full, const Tensor& slice, const ParamSplit& s) {
  if (!s.split()) return full.copy_from(slice);
  const float* from = slice.f32();
  float* to = full.f32();
  for_each_run(full.shape(), s, [&](int64_t f, int64_t p, int64_t n) {
    std::memcpy(to + f, from + p, static_cast<size_t>(n) * sizeof(float));
  });
}

}  // namespace trainer
