#include "engine/step_graph.h"

#include "core/check.h"

#ifdef TRAINER_HAS_CUDA
#include "core/cuda/runtime.cuh"
#endif

namespace trainer {

#ifdef TRAINER_HAS_CUDA
namespace {

class CudaGraphRecorder : public GraphRecorder {
 public:
  ~CudaGraphRecorder() override { cuda::destroy_graph(graph_); }
  void capture(const std::function<void()>& work) override {
    cuda::destroy_graph(graph_);
    graph_ = nullptr;
    cuda::begin_capture();
    try {
      work();
    } catch (...) {
      cuda::abandon_capture();
      throw;
    }
    graph_ = cuda::end_capture();
  }
  void replay(const std::function<void()>&) override { cuda::launch_graph(graph_); }

 private:
  void* graph_ = nullptr;
};

}  // namespace

std::unique_ptr<GraphRecorder> cuda_graph_recorder() {
  return std::make_unique<CudaGraphRecorder>();
}
#else
std::unique_ptr<GraphRecorder> cuda_graph_recorder() { return nullptr; }
#endif

const LossTotals* StepGraph::run(const std::vector<Batch>& pieces, float grad_scale,
                                 const Compute& compute) {
  if (!failure_.empty()) return nullptr;
  Key key{{}, grad_scale};
  for (const Batch& b : pieces) {
    key.shapes.push_back(b.x.shape());
    key.shapes.push_back(b.y.shape());
  }
  const bool captured = captured_ && *captured_ == key;
  if (captured) {
    for (size_t k = 0; k < pieces.size(); ++k) {
      inputs_[k].x.copy_from(pieces[k].x);
      inputs_[k].y.copy_from(pieces[k].y);
    }
  } else {
    // A shape's first step runs eagerly: the libraries choose their algorithms there.
    if (shapes_seen_ != key.shapes) {
      shapes_seen_ = key.shapes;
      return nullptr;
    }
    // Made before the capture, so they are not the graph pool's.
    inputs_.clear();
    for (const Batch& b : pieces) inputs_.push_back({b.x.clone(), b.y.clone()});
    totals_.emplace(pieces.at(0).y.device());
  }
  const auto work = [&] {
    totals_->zero();
    compute(inputs_, *totals_);
  };
  if (!captured) {
    try {
      recorder_->capture(work);
    } catch (const DeviceError& e) {
      // Nothing ran (a capture only records), so this step and the later ones run eagerly.
      failure_ = e.what();
      return nullptr;
    }
    captured_ = key;
    ++captures_;
  }
  recorder_->replay(work);
  ++replays_;
  return &*totals_;
}

}  // namespace trainer
