#include "parallel/zero_master.h"

#include "core/ops.h"

namespace trainer {

void keep_master_range(Model& model, const ZeroShards& zero) {
  const FlatRange mine = zero.mine;
  Tensor master = zero.master;
  master.copy_from(model.flat_values().view(mine.begin, {mine.size()}));
  model.release_values();
}

void publish_master_range(Model& model, const ZeroShards& zero, GradReducer& reducer) {
  Tensor compute = model.flat_compute().view(zero.mine.begin, {zero.mine.size()});
  ops::cast_into(zero.master, compute);
  reducer.start_gather(model.flat_compute());
}

void gather_master(Model& model, const ZeroShards& zero, GradReducer& reducer) {
  model.wait_for_weights();  // the compute copies' gather
  const Tensor& values = model.restore_values();
  values.view(zero.mine.begin, {zero.mine.size()}).copy_from(zero.master);
  reducer.gather_ranges(values);
}

}  // namespace trainer
