#include "parallel/grad_reducer.h"

#include <algorithm>
#include <string>

#include "core/ops.h"

namespace trainer {

GradReducer::GradReducer(Communicator& data, Model& model, double bucket_mb,
                         const std::vector<Param*>& held, ZeroShards zero)
    : comm_(data), model_(model), zero_(std::move(zero)) {
  const int64_t bucket_elems =
      std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * (1 << 20) / 4));
  const Tensor& flat = model.flat_grads();  // places the parameters (undefined under stage 2)
  // The model's flat gradients are laid out in reverse layer order, so a bucket is a range of
  // them that backward completes in one piece (alignment gaps included: they hold zeros).
  bool closed = true;  // the next parameter starts a bucket
  for (size_t i = model.size(); i-- > 0;)
    for (Param* p : model.layer(i).params()) {
      const int64_t index = model.layer(i).index();
      const size_t writer = model.last_writer(p, i);
      if (std::find(held.begin(), held.end(), p) != held.end()) {
        held_.push_back({i, writer, index, p->offset, p->compute.numel(), false, true, {p}});
        closed = true;  // no bucket spans a held parameter
        continue;
      }
      if (writer != i) {  // shared within the stage: written at both ends of backward
        buckets_.push_back(
            {i, writer, index, p->offset, p->compute.numel(), zero_.on(), true, {p}});
        closed = true;
        continue;
      }
      if (closed || buckets_.back().count >= bucket_elems)
        buckets_.push_back({i, writer, index, p->offset, 0, zero_.on(), false, {}});
      closed = false;
      Bucket& b = buckets_.back();
      b.lowest_layer = i;
      b.first_writer = std::max(b.first_writer, writer);
      b.layer_index = index;
      b.count = p->offset + p->compute.numel() - b.offset;
      b.params.push_back(p);
    }
  // Stage 2: a parameter whose gradient outlives a bucket's turn keeps a buffer of its own, its
  // grad bound to it for good: a held one (it waits for the other stage's copy) and one shared
  // within the stage (the head writes it first in backward, the embedding last). The others
  // take slots of the pool, each the size of the largest bucket.
  peak_bytes_ = static_cast<int64_t>(own_buffers() ? zero_.grads.bytes() : flat.bytes());
  for (std::vector<Bucket>* list : {&buckets_, &held_})
    for (Bucket& b : *list) {
      b.shares = counts_within({b.offset, b.offset + b.count}, zero_.ranges);
      if (!own_buffers()) {
        b.buffer = flat.view(b.offset, {b.count});
      } else if (!b.keeps_buffer) {
        slot_elems_ = std::max(slot_elems_, b.count);
      } else {
        b.buffer = Tensor::zeros({b.count}, DType::F32, model.device());
        b.params[0]->grad = b.buffer.view(0, b.params[0]->compute.shape());
        peak_bytes_ += static_cast<int64_t>(b.buffer.bytes());
      }
    }
}

GradReducer::~GradReducer() {
  model_.set_weights_pending(nullptr);
  for (Gather& g : gathers_) {
    try {
      if (g.work) g.work->wait();
    } catch (...) {  // the error that stopped training is already on its way
    }
  }
}

void GradReducer::begin_step(int64_t passes) {
  pass_ = 0;
  passes_ = std::max<int64_t>(passes, 1);
  if (!own_buffers()) return;  // Model::zero_grad zeroes the flat buffer
  zero_.grads.zero();
  for (Bucket& b : held_) b.buffer.zero();
}

BackwardHooks GradReducer::hooks() {
  return {[this](size_t i) { bind(i); }, [this](size_t i) { layer_done(i); }};
}

void GradReducer::bind(size_t index) {
  if (!own_buffers()) return;
  for (Bucket& b : buckets_) {
    if (b.first_writer != index) continue;
    if (b.keeps_buffer) {  // its own, zeroed for this pass
      b.buffer.zero();
      continue;
    }
    // A slot of the pool, zeroed for this pass; the parameters' grads keep their flat offsets
    // relative to it.
    b.slot = take_slot();
    b.buffer = b.slot.view(0, {b.count});
    b.buffer.zero();
    for (Param* p : b.params) p->grad = b.buffer.view(p->offset - b.offset, p->compute.shape());
  }
}

// Every slot holds the largest bucket, so any freed one fits the next. Two slots let one bucket
// reduce while backward writes the next (double buffering): with none free, the oldest bucket
// still reducing is waited for, and only when every slot is being written (a layer larger than
// a bucket) does the pool grow.
Tensor GradReducer::take_slot() {
  if (spare_.empty() && slots_ >= 2)
    for (size_t k = 0; k < next_ && spare_.empty(); ++k)
      if (buckets_[k].work) complete(buckets_[k], "bucket", k);
  if (spare_.empty()) {
    spare_.push_back(Tensor::empty({slot_elems_}, DType::F32, zero_.grads.device()));
    peak_bytes_ += static_cast<int64_t>(spare_.back().bytes());
    ++slots_;
  }
  Tensor slot = spare_.back();
  spare_.pop_back();
  return slot;
}

void GradReducer::start(Bucket& b) {
  // The caller's time spent issuing: all of a small all-reduce, which runs inline.
  trace::Scope issuing(b.scatter ? "issue reduce-scatter" : "issue all-reduce", trace::Track::Wait);
  b.started = trace::Clock::now();
  float* data = b.buffer.f32();
  if (b.scatter) {
    b.work = comm_.reduce_scatter_in_place_async(data, b.shares);
  } else {
    b.work = comm_.all_reduce_async(data, b.count, ReduceOp::Sum);
  }
  b.deferred = !b.work->done();
}

void GradReducer::layer_done(size_t index) {
  if (!reducing()) {
    pass_ += index == 0;
    return;
  }
  while (next_ < buckets_.size() && buckets_[next_].lowest_layer >= index) start(buckets_[next_++]);
  if (own_buffers())  // free the buckets already reduced, without waiting
    for (size_t k = 0; k < next_; ++k)
      if (buckets_[k].work && buckets_[k].work->done()) complete(buckets_[k], "bucket", k);
  if (index != 0) return;
  // Backward is over: count what communication it already hid (a bucket stage 2 has already
  // completed was done then too).
  overlapped_ = deferred_ = 0;
  for (const Bucket& b : buckets_) {
    deferred_ += b.deferred;
    overlapped_ += b.deferred && (!b.work || b.work->done());
  }
  // Stage 2 finishes every pass but the last here, so no bucket buffer outlives its pass.
  if (++pass_ < passes_) {
    complete_all(buckets_, "bucket");
    next_ = 0;
  }
}

void GradReducer::complete(Bucket& b, const char* name, size_t k) {
  b.work->wait();
  if (trace::enabled())
    trace::span(
        std::string(b.scatter ? "reduce-scatter " : "all-reduce ") + name + " " + std::to_string(k),
        trace::Track::Communication, b.started, b.work->finished_at(),
        "{\"bytes\": " + std::to_string(4 * b.count) +
            ", \"first_layer\": " + std::to_string(b.layer_index) + "}");
  b.work.reset();
  if (!own_buffers()) return;
  const FlatRange in = overlap({b.offset, b.offset + b.count}, zero_.mine);
  if (!in.empty()) {
    Tensor mine = zero_.grads.view(in.begin - zero_.mine.begin, {in.size()});
    ops::add(mine, b.buffer.view(in.begin - b.offset, {in.size()}), mine);
  }
  if (b.keeps_buffer) return;
  spare_.push_back(b.slot);  // for the next bucket
  b.slot = b.buffer = Tensor();
  for (Param* p : b.params) p->grad = Tensor();
}

void GradReducer::complete_all(std::vector<Bucket>& buckets, const char* name) {
  trace::Scope wait("wait for gradient reductions", trace::Track::Wait);
  for (size_t k = 0; k < buckets.size(); ++k)
    if (buckets[k].work) complete(buckets[k], name, k);
}

void GradReducer::start_gather(const Tensor& flat) {
  model_.wait_for_weights();  // the last gather's
  std::vector<const Bucket*> order;
  for (const std::vector<Bucket>* list : {&buckets_, &held_})
    for (const Bucket& b : *list) order.push_back(&b);
  std::stable_sort(order.begin(), order.end(), [](const Bucket* a, const Bucket* b) {
    return a->lowest_layer < b->lowest_layer;
  });
  trace::Scope issuing("issue gathers of updated parameters", trace::Track::Wait);
  for (const Bucket* b : order)
    gathers_.push_back(
        {b->lowest_layer, comm_.all_gather_in_place_async(
                              static_cast<char*>(flat.raw()) + b->offset * dtype_size(flat.dtype()),
                              b->shares, flat.dtype())});
  model_.set_weights_pending([this](size_t layer) { wait_gathered(layer); });
}

void GradReducer::wait_gathered(size_t layer) {
  for (Gather& g : gathers_)
    if (g.work && g.lowest_layer <= layer) {
      trace::Scope wait("wait for updated parameters", trace::Track::Wait);
      g.work->wait();
      g.work.reset();
    }
  if (std::none_of(gathers_.begin(), gathers_.end(),
                   [](const Gather& g) { return g.work != nullptr; }))
    gathers_.clear();
}

void GradReducer::gather_ranges(const Tensor& flat) {
  start_gather(flat);
  model_.wait_for_weights();
}

void GradReducer::finish(const std::function<void()>& before_held) {
  while (next_ < buckets_.size()) start(buckets_[next_++]);
  if (before_held) before_held();
  for (Bucket& b : held_) start(b);
  complete_all(buckets_, "bucket");
  complete_all(held_, "shared parameter");
  next_ = 0;
  pass_ = 0;
}

}  // namespace trainer
