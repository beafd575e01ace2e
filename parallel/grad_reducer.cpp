#include "parallel/grad_reducer.h"

#include <algorithm>
#include <string>

namespace trainer {

GradReducer::GradReducer(Communicator& data, Model& model, double bucket_mb,
                         const std::vector<Param*>& held, std::vector<FlatRange> shards)
    : comm_(data), flat_(model.flat_grads()), shards_(std::move(shards)) {
  const int64_t bucket_elems =
      std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * (1 << 20) / 4));
  const bool scatter = !shards_.empty();
  // The model's flat gradients are laid out in reverse layer order, so a bucket is a range of
  // them that backward completes in one piece (alignment gaps included: they hold zeros).
  bool closed = true;  // the next parameter starts a bucket
  for (size_t i = model.size(); i-- > 0;)
    for (Param* p : model.layer(i).params()) {
      const int64_t index = model.layer(i).index();
      if (std::find(held.begin(), held.end(), p) != held.end()) {
        held_.push_back({i, index, p->offset, p->grad.numel(), false, nullptr, {}, false});
        closed = true;  // no bucket spans a held parameter
        continue;
      }
      if (closed || buckets_.back().count >= bucket_elems)
        buckets_.push_back({i, index, p->offset, 0, scatter, nullptr, {}, false});
      closed = false;
      Bucket& b = buckets_.back();
      b.lowest_layer = i;
      b.layer_index = index;
      b.count = p->offset + p->grad.numel() - b.offset;
    }
}

void GradReducer::start(Bucket& b) {
  // The caller's time spent issuing: all of a small all-reduce, which runs inline.
  trace::Scope issuing(b.scatter ? "issue reduce-scatter" : "issue all-reduce", trace::Track::Wait);
  b.started = trace::Clock::now();
  float* data = flat_.f32() + b.offset;
  if (b.scatter) {
    b.work = comm_.reduce_scatter_in_place_async(
        data, counts_within({b.offset, b.offset + b.count}, shards_));
  } else {
    b.work = comm_.all_reduce_async(data, b.count, ReduceOp::Sum);
  }
  b.deferred = !b.work->done();
}

void GradReducer::layer_done(size_t index) {
  if (index == 0) {  // backward is over: count what communication it already hid
    overlapped_ = deferred_ = 0;
    for (const Bucket& b : buckets_) {
      deferred_ += b.work && b.deferred;
      overlapped_ += b.work && b.deferred && b.work->done();
    }
  }
  while (next_ < buckets_.size() && buckets_[next_].lowest_layer >= index) start(buckets_[next_++]);
}

void GradReducer::wait_and_trace(std::vector<Bucket>& buckets, const char* name) {
  {
    trace::Scope wait("wait for gradient reductions", trace::Track::Wait);
    for (Bucket& b : buckets) b.work->wait();
  }
  for (size_t k = 0; k < buckets.size(); ++k) {
    Bucket& b = buckets[k];
    if (trace::enabled())
      trace::span(std::string(b.scatter ? "reduce-scatter " : "all-reduce ") + name + " " +
                      std::to_string(k),
                  trace::Track::Communication, b.started, b.work->finished_at(),
                  "{\"bytes\": " + std::to_string(4 * b.count) +
                      ", \"first_layer\": " + std::to_string(b.layer_index) + "}");
    b.work.reset();
  }
}

void GradReducer::gather_values(const Tensor& values) {
  trace::Scope gather("gather updated parameters", trace::Track::Communication);
  for (const std::vector<Bucket>* list : {&buckets_, &held_})
    for (const Bucket& b : *list)
      comm_.all_gather_in_place(values.f32() + b.offset,
                                counts_within({b.offset, b.offset + b.count}, shards_));
}

void GradReducer::finish(const std::function<void()>& before_held) {
  while (next_ < buckets_.size()) start(buckets_[next_++]);
  if (before_held) before_held();
  for (Bucket& b : held_) start(b);
  wait_and_trace(buckets_, "bucket");
  wait_and_trace(held_, "shared parameter");
  next_ = 0;
}

}  // namespace trainer
