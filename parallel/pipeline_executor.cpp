#include "parallel/pipeline_executor.h"

#include <memory>
#include <set>
#include <string>

#include "core/trace.h"

namespace trainer {

PipelineExecutor::PipelineExecutor(Model& stage_model, Communicator& pipeline, int stage,
                                   int stages, ScheduleKind kind)
    : model_(stage_model), comm_(pipeline), stage_(stage), stages_(stages), kind_(kind) {}

Shape PipelineExecutor::batched(const Shape& per_sample, int64_t rows) const {
  Shape s{rows};
  s.insert(s.end(), per_sample.begin(), per_sample.end());
  return s;
}

// Bytes of distinct buffers a stash holds, blocks' inner stashes included (layers often keep the
// same tensor: one layer's output is the next one's input).
static int64_t stash_bytes(const Stash& s, std::set<const void*>& seen) {
  int64_t bytes = 0;
  for (const Tensor& t : s.tensors)
    if (t.defined() && seen.insert(t.raw()).second) bytes += static_cast<int64_t>(t.bytes());
  for (const Stash& child : s.children) bytes += stash_bytes(child, seen);
  return bytes;
}

static int64_t stash_bytes(const ModelStash& stash) {
  std::set<const void*> seen;
  int64_t bytes = 0;
  for (const Stash& layer : stash) bytes += stash_bytes(layer, seen);
  return bytes;
}

void PipelineExecutor::run_step(int microbatches, const MicrobatchSource& source,
                                const BackwardHooks& hooks) {
  const int m = microbatches;
  std::vector<ModelStash> stash(m);
  // Per micro-batch: the activation received (input) and the one to send (output), the gradient
  // received (or the loss's) and the one to send. A sent tensor lives until its send completes.
  std::vector<Tensor> act_in(m), act_out(m), grad_in(m), grad_out(m);
  std::vector<int64_t> held(m, 0);
  std::vector<std::unique_ptr<Work>> sends;
  int64_t live = 0;
  // On the timeline a send is the time it took to issue; it completes in the background.
  auto send = [&](const Tensor& t, int peer, int tag_, const char* what) {
    trace::Scope span(what, trace::Track::Communication);
    sends.push_back(comm_.send_async(t.raw(), static_cast<int64_t>(t.bytes()), peer, tag_));
  };
  auto recv = [&](const Shape& shape, int peer, int tag_, const char* what) {
    Tensor t = Tensor::empty(shape, model_.compute_dtype(), model_.device());
    trace::Scope wait(what, trace::Track::Wait);
    comm_.recv(t.raw(), static_cast<int64_t>(t.bytes()), peer, tag_);
    return t;
  };
  for (const Action& a : make_schedule(kind_, stage_, stages_, m)) {
    const int mb = a.microbatch;
    switch (a.kind) {
      case Action::RecvActivation:
        act_in[mb] = recv(batched(model_.input_shape(), source.rows(mb)), stage_ - 1,
                          tag(mb, false), "recv activation");
        break;
      case Action::Forward: {
        const Tensor x = first() ? source.input(mb) : act_in[mb];
        Tensor y = model_.forward(x, stash[mb], source.context(mb));
        act_in[mb] = Tensor();
        if (last())
          grad_in[mb] = source.loss(mb, y);
        else
          act_out[mb] = y;
        held[mb] = stash_bytes(stash[mb]);
        live += held[mb];
        peak_stash_bytes_ = std::max(peak_stash_bytes_, live);
        break;
      }
      case Action::SendActivation:
        send(act_out[mb], stage_ + 1, tag(mb, false), "send activation");
        break;
      case Action::RecvGrad:
        grad_in[mb] = recv(batched(model_.output_shape(), source.rows(mb)), stage_ + 1,
                           tag(mb, true), "recv grad");
        break;
      case Action::Backward: {
        Tensor dx = model_.backward(grad_in[mb], stash[mb], hooks);
        grad_in[mb] = Tensor();
        stash[mb].clear();
        live -= held[mb];
        if (!first()) grad_out[mb] = dx;
        break;
      }
      case Action::SendGrad:
        send(grad_out[mb], stage_ - 1, tag(mb, true), "send grad");
        break;
    }
  }
  trace::Scope wait("wait for sends", trace::Track::Wait);
  for (auto& s : sends) s->wait();
}

void PipelineExecutor::run_forward(const MicrobatchSource& source) {
  ModelStash stash;
  Tensor x;
  if (first()) {
    x = source.input(0);
  } else {
    x = Tensor::empty(batched(model_.input_shape(), source.rows(0)), model_.compute_dtype(),
                      model_.device());
    comm_.recv(x.raw(), static_cast<int64_t>(x.bytes()), stage_ - 1, tag(0, false));
  }
  const Tensor y = model_.forward(x, stash, source.context(0));
  if (last())
    source.loss(0, y);
  else
    comm_.send_async(y.raw(), static_cast<int64_t>(y.bytes()), stage_ + 1, tag(0, false))->wait();
}

}  // namespace trainer
