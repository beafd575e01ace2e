#include "parallel/pipeline_executor.h"

#include <array>
#include <deque>
#include <memory>
#include <set>
#include <string>

#include "core/trace.h"

namespace trainer {

PipelineExecutor::PipelineExecutor(Model& stage_model, Communicator& pipeline, int stage,
                                   int stages, ScheduleKind kind, bool lookahead)
    : model_(stage_model),
      comm_(pipeline),
      stage_(stage),
      stages_(stages),
      kind_(kind),
      lookahead_(lookahead) {}

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

// One step's messages. Chunk c of stage s is virtual stage v = c P + s; the boundary b lies
// between virtual stages b and b + 1, and each (micro-batch, boundary, direction) has its tag.
// Activations go to the next rank round the ring, gradients to the previous one.
class PipelineExecutor::Transfers {
 public:
  Transfers(PipelineExecutor& e, const std::vector<Action>& actions, const MicrobatchSource& source)
      : e_(e), source_(source) {
    for (const Action& a : actions)
      if (a.kind == Action::RecvActivation || a.kind == Action::RecvGrad)
        pending_[grad(a)].push_back(a);
    if (e_.lookahead_) post_ahead();
  }
  // Waits for every send (their buffers live until then).
  void finish() {
    trace::Scope wait("wait for sends", trace::Track::Wait);
    for (auto& s : sends_) s->wait();
    sends_.clear();
    kept_.clear();
  }
  // Left by an error, before finish(): nothing may keep the error from ending the job (the ranks
  // this one would wait for are waiting for it), and no buffer may be freed under MPI. Posted
  // receives are withdrawn; sends still in flight keep their buffers for the rest of the
  // process, which the error is about to end.
  ~Transfers() {
    for (auto& side : posted_)
      for (Posted& p : side) p.work->cancel();
    bool in_flight = false;
    for (auto& s : sends_)
      if (!s->done()) {
        (void)s.release();
        in_flight = true;
      }
    if (in_flight) (void)new std::vector<Tensor>(std::move(kept_));
  }

  // On the timeline a send is the time it took to issue; it completes in the background.
  void send(const Action& a, const Tensor& t) {
    trace::Scope span(grad(a) ? "send grad" : "send activation", trace::Track::Communication);
    sends_.push_back(
        e_.comm_.send_async(t.raw(), static_cast<int64_t>(t.bytes()), peer(a), tag(a)));
    kept_.push_back(t);
  }

  // The message of a receive action: posted ahead and now waited for, or received now.
  Tensor receive(const Action& a) {
    const bool g = grad(a);
    if (!e_.lookahead_) {
      post(pending_[g].front());
      pending_[g].pop_front();
    }
    Posted p = std::move(posted_[g].front());
    posted_[g].pop_front();
    {
      trace::Scope wait(g ? "recv grad" : "recv activation", trace::Track::Wait);
      p.work->wait();
    }
    if (e_.lookahead_) post_ahead();
    return p.buffer;
  }

 private:
  struct Posted {
    Tensor buffer;
    std::unique_ptr<Work> work;
  };
  static bool grad(const Action& a) {
    return a.kind == Action::RecvGrad || a.kind == Action::SendGrad;
  }
  // Whether the message goes between this virtual stage and the next (else the previous).
  static bool toward_next(const Action& a) {
    return a.kind == Action::SendActivation || a.kind == Action::RecvGrad;
  }
  int boundary(const Action& a) const {
    return a.chunk * e_.stages_ + e_.stage_ - (toward_next(a) ? 0 : 1);
  }
  int peer(const Action& a) const {
    return (e_.stage_ + (toward_next(a) ? 1 : e_.stages_ - 1)) % e_.stages_;
  }
  int tag(const Action& a) const {
    return (a.microbatch * e_.stages_ * e_.model_.chunks() + boundary(a)) * 2 + grad(a);
  }
  void post(const Action& a) {
    const Shape& shape = a.kind == Action::RecvActivation ? e_.model_.input_shape(a.chunk)
                                                          : e_.model_.output_shape(a.chunk);
    Tensor t = Tensor::empty(e_.batched(shape, source_.rows(a.microbatch)),
                             e_.model_.compute_dtype(), e_.model_.device());
    posted_[grad(a)].push_back(
        {t, e_.comm_.recv_async(t.raw(), static_cast<int64_t>(t.bytes()), peer(a), tag(a))});
  }
  void post_ahead() {
    for (int g = 0; g < 2; ++g)
      while (!pending_[g].empty() && static_cast<int>(posted_[g].size()) < kPostedAhead) {
        post(pending_[g].front());
        pending_[g].pop_front();
      }
  }

  PipelineExecutor& e_;
  const MicrobatchSource& source_;
  std::array<std::deque<Action>, 2> pending_;  // receives not yet posted, activations' and grads'
  std::array<std::deque<Posted>, 2> posted_;   // posted, in the order they will be waited for
  std::vector<std::unique_ptr<Work>> sends_;
  std::vector<Tensor> kept_;  // the buffers of sends in flight
};

// A compute action's span on the schedule track: "F 3" (forward of micro-batch 3), "B 3" (a
// whole backward, or B under zb-h1), "W 3"; with its chunk, for a tool that replays the schedule
// with the measured times (bench/pipeline.py).
class ActionSpan {
 public:
  explicit ActionSpan(const Action& a)
      : a_(a), begin_(trace::enabled() ? trace::Clock::now() : trace::Clock::time_point()) {}
  ~ActionSpan() {
    const char* what = a_.kind == Action::Forward                                        ? "F "
                       : a_.kind == Action::Backward || a_.kind == Action::BackwardInput ? "B "
                       : a_.kind == Action::BackwardWeight                               ? "W "
                                                                                         : nullptr;
    if (what && begin_ != trace::Clock::time_point())
      trace::span(what + std::to_string(a_.microbatch), trace::Track::Schedule, begin_,
                  trace::Clock::now(),
                  "{\"chunk\": " + std::to_string(a_.chunk) +
                      ", \"whole\": " + (a_.kind == Action::Backward ? "true" : "false") + "}");
  }

 private:
  Action a_;
  trace::Clock::time_point begin_;
};

void PipelineExecutor::run_step(int microbatches, const MicrobatchSource& source,
                                const BackwardHooks& hooks) {
  const int m = microbatches, chunks = model_.chunks();
  const std::vector<Action> actions = make_schedule(kind_, stage_, stages_, m, chunks);
  // Per (micro-batch, chunk): its stash, the activation received (or the data), the one to send,
  // the gradient received (or the loss's) and the one to send, and the stash's bytes.
  struct Slot {
    ModelStash stash;
    Tensor act_in, act_out, grad_in, grad_out;
    int64_t held = 0;
  };
  std::vector<Slot> slots(static_cast<size_t>(m * chunks));
  int64_t live = 0;
  auto hold = [&](Slot& s, int64_t bytes) {
    live += bytes - s.held;
    s.held = bytes;
    peak_stash_bytes_ = std::max(peak_stash_bytes_, live);
  };
  Transfers transfers(*this, actions, source);
  for (const Action& a : actions) {
    const ActionSpan span(a);
    Slot& s = slots[static_cast<size_t>(a.microbatch * chunks + a.chunk)];
    const bool data = first() && a.chunk == 0, loss = last() && a.chunk == chunks - 1;
    switch (a.kind) {
      case Action::RecvActivation:
        s.act_in = transfers.receive(a);
        break;
      case Action::Forward: {
        const Tensor x = data ? source.input(a.microbatch) : s.act_in;
        Tensor y = model_.forward(x, s.stash, source.context(a.microbatch), a.chunk);
        s.act_in = Tensor();
        if (loss)
          s.grad_in = source.loss(a.microbatch, y);
        else
          s.act_out = y;
        hold(s, stash_bytes(s.stash));
        break;
      }
      case Action::SendActivation:
        transfers.send(a, s.act_out);
        s.act_out = Tensor();
        break;
      case Action::RecvGrad:
        s.grad_in = transfers.receive(a);
        break;
      case Action::Backward:
        s.grad_out = model_.backward(s.grad_in, s.stash, hooks, a.chunk);
        s.grad_in = Tensor();
        s.stash.clear();
        hold(s, 0);
        break;
      case Action::BackwardInput:  // the stash keeps what W needs
        s.grad_out = model_.backward_input(s.grad_in, s.stash, a.chunk);
        s.grad_in = Tensor();
        hold(s, stash_bytes(s.stash));
        break;
      case Action::BackwardWeight:
        model_.backward_weights(s.stash, hooks, a.chunk);
        s.stash.clear();
        hold(s, 0);
        break;
      case Action::SendGrad:
        transfers.send(a, s.grad_out);
        s.grad_out = Tensor();
        break;
    }
  }
  transfers.finish();
}

void PipelineExecutor::run_forward(const MicrobatchSource& source) {
  const int chunks = model_.chunks();
  const std::vector<Action> actions = make_forward_schedule(stage_, stages_, chunks);
  Transfers transfers(*this, actions, source);
  Tensor h;
  for (const Action& a : actions) {
    if (a.kind == Action::RecvActivation) h = transfers.receive(a);
    if (a.kind == Action::SendActivation) transfers.send(a, h);
    if (a.kind != Action::Forward) continue;
    ModelStash stash;
    h = model_.forward(first() && a.chunk == 0 ? source.input(0) : h, stash, source.context(0),
                       a.chunk);
    if (last() && a.chunk == chunks - 1) source.loss(0, h);
  }
  transfers.finish();
}

}  // namespace trainer
