#include "core/optim/optimizer.h"

#include <algorithm>
#include <climits>

namespace trainer {

std::vector<Tensor> Optimizer::make_state(const std::string& name) {
  bool placed = !params_.empty();
  int64_t begin = INT64_MAX, end = 0, packed = 0;
  for (const Param* p : params_) {
    placed = placed && p->offset >= 0;
    begin = std::min(begin, p->offset);
    end = std::max(end, p->offset + p->value.numel());
    packed += p->value.numel();
  }
  flat_begin_ = placed ? begin : 0;
  const Device device = params_.empty() ? Device::cpu() : params_[0]->value.device();
  Tensor flat =
      Tensor::zeros({std::max<int64_t>(placed ? end - begin : packed, 1)}, DType::F32, device);
  std::vector<Tensor> views;
  int64_t next = 0;
  for (const Param* p : params_) {
    views.push_back(flat.view(placed ? p->offset - begin : next, p->value.shape()));
    next += p->value.numel();
  }
  flat_state_.emplace_back(name, flat);
  return views;
}

const void* Optimizer::put_constant_bytes(const void* bytes, size_t size) {
  const int64_t words = static_cast<int64_t>((size + 3) / 4);
  const Device device = params_.empty() ? Device::cpu() : params_[0]->value.device();
  if (!constants_.defined() || constants_.numel() != words || constants_.device() != device)
    constants_ = Tensor::zeros({words}, DType::I32, device);
  constants_.copy_from_host(bytes, size);
  return constants_.raw();
}

#ifdef TRAINER_HAS_CUDA
cuda::ParamGroup Optimizer::param_group(const std::vector<Tensor>& state1,
                                        const std::vector<Tensor>& state2) const {
  cuda::ParamGroup group;
  for (size_t i = 0; i < params_.size(); ++i) {
    group.n.push_back(params_[i]->value.numel());
    group.w.push_back(params_[i]->value.f32());
    group.g.push_back(params_[i]->grad.f32());
    if (!state1.empty()) group.state1.push_back(state1[i].f32());
    if (!state2.empty()) group.state2.push_back(state2[i].f32());
  }
  return group;
}
#endif

}  // namespace trainer
