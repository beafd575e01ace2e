#include "parallel/grad_reducer.h"

#include <string>

namespace trainer {

GradReducer::GradReducer(Communicator& data, Model& model, double bucket_mb)
    : comm_(data), flat_(model.flat_grads()) {
  const int64_t bucket_elems =
      std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * (1 << 20) / 4));
  // The model's flat gradients are laid out in reverse layer order, so a bucket is a range of
  // them that backward completes in one piece (alignment gaps included: they hold zeros).
  for (size_t i = model.size(); i-- > 0;)
    for (Param* p : model.layer(i).params()) {
      if (buckets_.empty() || buckets_.back().count >= bucket_elems)
        buckets_.push_back({i, 0, p->offset, 0, nullptr, {}});
      Bucket& b = buckets_.back();
      b.lowest_layer = i;
      b.layer_index = model.layer(i).index();
      b.count = p->offset + p->grad.numel() - b.offset;
    }
}

void GradReducer::start(Bucket& b) {
  // The caller's time spent issuing: all of a small all-reduce, which runs inline.
  trace::Scope issuing("issue all-reduce", trace::Track::Wait);
  b.started = trace::Clock::now();
  b.work = comm_.all_reduce_async(flat_.f32() + b.offset, b.count, ReduceOp::Sum);
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

void GradReducer::finish() {
  while (next_ < buckets_.size()) start(buckets_[next_++]);
  {
    trace::Scope wait("wait for gradient all-reduces", trace::Track::Wait);
    for (Bucket& b : buckets_) b.work->wait();
  }
  for (size_t k = 0; k < buckets_.size(); ++k) {
    Bucket& b = buckets_[k];
    if (trace::enabled())
      trace::span("all-reduce bucket " + std::to_string(k), trace::Track::Communication, b.started,
                  b.work->finished_at(),
                  "{\"bytes\": " + std::to_string(4 * b.count) +
                      ", \"first_layer\": " + std::to_string(b.layer_index) + "}");
    b.work.reset();
  }
  next_ = 0;
}

}  // namespace trainer
