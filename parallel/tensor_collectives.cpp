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

void GroupCollectives::all_reduce_max(Tensor& t) {
  trace::Scope span("tensor all-reduce", trace::Track::Communication);
  group().all_reduce(t.f32(), t.numel(), ReduceOp::Max);
}

}  // namespace trainer
