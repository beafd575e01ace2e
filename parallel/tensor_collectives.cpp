#include "parallel/tensor_collectives.h"

#include "core/error.h"
#include "core/ops.h"
#include "core/trace.h"

namespace trainer {

Communicator& GroupCollectives::group() const {
  if (!group_) throw InternalError("a tensor-parallel layer ran before its group was bound");
  return *group_;
}

void GroupCollectives::all_reduce_sum(Tensor& t) {
  trace::Scope span("tensor all-reduce", trace::Track::Communication);
  if (group().reduces_in(t.dtype()))
    return group().all_reduce(t.raw(), t.numel(), t.dtype(), ReduceOp::Sum);
  Tensor wide = ops::cast(t, DType::F32);
  group().all_reduce(wide.f32(), wide.numel(), ReduceOp::Sum);
  ops::cast_into(wide, t);
}

// The rank blocks of an n-element tensor, equal (the rows split evenly).
static std::vector<int64_t> blocks(int64_t n, int ranks) {
  return std::vector<int64_t>(static_cast<size_t>(ranks), n / ranks);
}

void GroupCollectives::all_gather(const Tensor& part, Tensor& whole) {
  trace::Scope span("tensor all-gather", trace::Track::Communication);
  Communicator& g = group();
  whole.view(part.numel() * g.rank(), {part.numel()}).copy_from(part.reshape({part.numel()}));
  g.all_gather_in_place(whole.raw(), blocks(whole.numel(), g.size()), whole.dtype());
}

void GroupCollectives::reduce_scatter(Tensor& whole, Tensor& part) {
  trace::Scope span("tensor reduce-scatter", trace::Track::Communication);
  Communicator& g = group();
  Tensor wide = whole.dtype() == DType::F32 ? whole : ops::cast(whole, DType::F32);
  g.reduce_scatter_in_place_async(wide.f32(), blocks(wide.numel(), g.size()))->wait();
  Tensor mine = wide.view(part.numel() * g.rank(), {part.numel()});
  Tensor out = part.reshape({part.numel()});
  ops::cast_into(mine, out);
}

void GroupCollectives::all_reduce_max(Tensor& t) {
  trace::Scope span("tensor all-reduce", trace::Track::Communication);
  group().all_reduce(t.f32(), t.numel(), ReduceOp::Max);
}

}  // namespace trainer
