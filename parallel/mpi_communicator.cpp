#include "parallel/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/check.h"
#include "parallel/host_staging.h"
#include "parallel/watchdog.h"

namespace trainer {

struct MpiCommHandle {
  MPI_Comm comm;
};

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, static_cast<size_t>(len));
}

namespace {

// The completion of one queued operation, shared by the MPI thread and the waiting caller.
class QueuedWork : public Work {
 public:
  void wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    if (error_) std::rethrow_exception(error_);
  }
  bool done() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  trace::Clock::time_point finished_at() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_at_;
  }
  void finish(std::exception_ptr error) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      error_ = error;
      finished_at_ = trace::Clock::now();
    }
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
  trace::Clock::time_point finished_at_;
};

}  // namespace

// A point-to-point request in flight. Every MPI call on it runs where MPI calls may (the MPI
// thread, or a caller's thread while it holds the runtime's lock), one at a time.
class PendingRequest {
 public:
  MPI_Request request = MPI_REQUEST_NULL;
  bool complete() const { return complete_.load(); }
  trace::Clock::time_point finished_at() const { return finished_at_; }
  void test() {
    if (complete()) return;
    int flag = 0;
    const int code = MPI_Test(&request, &flag, MPI_STATUS_IGNORE);
    if (code != MPI_SUCCESS) {
      error_ = std::make_exception_ptr(std::runtime_error("MPI_Test: " + mpi_error_text(code)));
      flag = 1;
    }
    if (flag) finish();
  }
  void wait() {
    if (!complete()) {
      MPI_CHECK(MPI_Wait(&request, MPI_STATUS_IGNORE));
      finish();
    }
    if (error_) std::rethrow_exception(error_);
  }
  // A receive's cancellation completes at once (a send's might not: only receives are cancelled).
  void cancel() {
    if (complete()) return;
    MPI_Cancel(&request);
    MPI_Wait(&request, MPI_STATUS_IGNORE);
    finish();
  }

 private:
  void finish() {
    finished_at_ = trace::Clock::now();
    complete_.store(true);
  }
  std::atomic<bool> complete_{false};
  std::exception_ptr error_;
  trace::Clock::time_point finished_at_;
};

// The MPI thread: starts MPI, runs queued operations in order, finalises MPI at process exit.
class MpiRuntime {
 public:
  // Until the config says otherwise, a collective may take the config's default limit.
  MpiRuntime() : watchdog_(300.0), thread_([this] { loop(); }) {
    std::shared_ptr<QueuedWork> started = enqueue([this] {
      int provided = 0, rank = 0;
      MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
      serialized_ = provided >= MPI_THREAD_SERIALIZED;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      watchdog_.set_rank(rank);
      // Errors come back as codes, so they become exceptions with the call named.
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    });
    started->wait();
  }
  ~MpiRuntime() {
    enqueue([] { MPI_Finalize(); })->wait();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  CollectiveWatchdog& watchdog() { return watchdog_; }

  // A point-to-point request just posted (on the MPI thread, or inline): the MPI thread tests it
  // every kPollInterval while it has nothing queued, so the transfer proceeds and completes while
  // this process computes (Open MPI moves a message only inside an MPI call: a receive posted
  // early would otherwise make no progress until it is waited on).
  void watch(std::shared_ptr<PendingRequest> request) {
    {
      std::lock_guard<std::mutex> lock(watch_mu_);
      watched_.push_back(std::move(request));
      poll_us_ = kPollInterval.count();
    }
    cv_.notify_all();  // the MPI thread may be asleep with nothing to poll
  }

  std::shared_ptr<QueuedWork> enqueue(std::function<void()> op) {
    auto work = std::make_shared<QueuedWork>();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.emplace_back(std::move(op), work);
      ++busy_;
    }
    cv_.notify_all();
    return work;
  }

  // Runs op on the calling thread when the MPI thread has nothing queued or running, so that the
  // order of this rank's collectives is still the order they were issued in; false otherwise.
  // A small collective then costs what MPI costs, without the ~10 us of a thread hand-over.
  template <class Op>
  bool try_inline(Op&& op) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!serialized_ || busy_ > 0) return false;
    op();
    return true;
  }

 private:
  void loop() {
    for (;;) {
      std::pair<std::function<void()>, std::shared_ptr<QueuedWork>> item;
      {
        std::unique_lock<std::mutex> lock(mu_);
        const auto ready = [&] { return stop_ || !queue_.empty(); };
        while (!ready()) {
          if (!watching()) {  // until an operation is queued or a request posted (watch())
            cv_.wait(lock, [&] { return ready() || watching(); });
          } else if (!cv_.wait_for(lock, std::chrono::microseconds(poll_us_.load()), ready)) {
            // Under mu_: no operation runs inline meanwhile. Polls that find nothing back off.
            poll_us_ =
                poll() ? kPollInterval.count() : std::min(2 * poll_us_.load(), kPollMax.count());
          }
        }
        if (queue_.empty()) return;  // stopped, nothing left
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      std::exception_ptr error;
      try {
        item.first();
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        --busy_;
      }
      item.second->finish(error);
    }
  }

  // The MPI thread shares a core with the computing thread, so each poll costs it a context
  // switch: polls start every kPollInterval after a request is posted or completes, and back off
  // to kPollMax while none completes, short against a pipeline slot (milliseconds). A waiter
  // does not depend on them (RequestWork::wait makes its own MPI call).
  static constexpr std::chrono::microseconds kPollInterval{100}, kPollMax{2000};
  bool watching() {
    std::lock_guard<std::mutex> lock(watch_mu_);
    return !watched_.empty();
  }
  // Tests every watched request; forgets the completed ones. Whether any completed.
  bool poll() {
    std::lock_guard<std::mutex> lock(watch_mu_);
    for (auto& r : watched_) r->test();
    const auto done = std::remove_if(watched_.begin(), watched_.end(),
                                     [](const auto& r) { return r->complete(); });
    const bool any = done != watched_.end();
    watched_.erase(done, watched_.end());
    return any;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::function<void()>, std::shared_ptr<QueuedWork>>> queue_;
  std::mutex watch_mu_;  // after mu_ when both are held
  std::vector<std::shared_ptr<PendingRequest>> watched_;
  std::atomic<int64_t> poll_us_{kPollInterval.count()};  // the next poll's wait
  bool stop_ = false;
  CollectiveWatchdog watchdog_;  // before thread_: it must exist while the MPI thread runs
  int busy_ = 0;                 // operations queued or running on the MPI thread
  bool serialized_ = false;      // MPI allows calls from any one thread at a time
  std::thread thread_;
};

namespace {
// A handle that owns its QueuedWork through the shared state.
class WorkHandle : public Work {
 public:
  explicit WorkHandle(std::shared_ptr<QueuedWork> w) : w_(std::move(w)) {}
  void wait() override { w_->wait(); }
  bool done() const override { return w_->done(); }
  trace::Clock::time_point finished_at() const override { return w_->finished_at(); }

 private:
  std::shared_ptr<QueuedWork> w_;
};

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::Max ? MPI_MAX : MPI_SUM; }
}  // namespace

std::unique_ptr<MpiCommunicator> MpiCommunicator::world() {
  // One runtime for the life of the process: MPI cannot start again once finalised, and a
  // process (a test program) may create and drop communicators several times.
  static const std::shared_ptr<MpiRuntime> runtime = std::make_shared<MpiRuntime>();
  return std::unique_ptr<MpiCommunicator>(
      new MpiCommunicator(runtime, std::make_unique<MpiCommHandle>(MpiCommHandle{MPI_COMM_WORLD})));
}

MpiCommunicator::MpiCommunicator(std::shared_ptr<MpiRuntime> runtime,
                                 std::unique_ptr<MpiCommHandle> comm)
    : runtime_(std::move(runtime)), comm_(std::move(comm)) {
  run("MPI_Comm_rank", [&] {
    MPI_CHECK(MPI_Comm_rank(comm_->comm, &rank_));
    MPI_CHECK(MPI_Comm_size(comm_->comm, &size_));
    MPI_Group mine, world;
    MPI_CHECK(MPI_Comm_group(comm_->comm, &mine));
    MPI_CHECK(MPI_Comm_group(MPI_COMM_WORLD, &world));
    std::vector<int> ranks(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) ranks[static_cast<size_t>(r)] = r;
    world_ranks_.resize(ranks.size());
    MPI_CHECK(MPI_Group_translate_ranks(mine, size_, ranks.data(), world, world_ranks_.data()));
    MPI_Group_free(&mine);
    MPI_Group_free(&world);
  });
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_->comm != MPI_COMM_WORLD) run("MPI_Comm_free", [&] { MPI_Comm_free(&comm_->comm); });
}

template <class Op>
std::unique_ptr<Work> MpiCommunicator::submit(const char* name, Op&& raw, int64_t bytes, int peer) {
  CollectiveWatchdog& watchdog = runtime_->watchdog();
  if (bytes <= kInlineBytes) {
    std::exception_ptr error;
    const bool ran = runtime_->try_inline([&] {
      try {
        CollectiveWatchdog::Scope in_flight(watchdog, name, peer);
        raw();
      } catch (...) {
        error = std::current_exception();
      }
    });
    if (ran) {
      if (error) std::rethrow_exception(error);
      return completed_work();
    }
  }
  return std::make_unique<WorkHandle>(
      runtime_->enqueue([&watchdog, name, peer, raw = std::forward<Op>(raw)] {
        CollectiveWatchdog::Scope in_flight(watchdog, name, peer);
        raw();
      }));
}

template <class Op>
void MpiCommunicator::run(const char* name, Op&& op, int peer) {
  submit(name, std::forward<Op>(op), 0, peer)->wait();
}

static int count(int64_t n) {
  if (n > INT32_MAX) throw std::runtime_error("MPI message of " + std::to_string(n) + " elements");
  return static_cast<int>(n);
}

std::unique_ptr<Work> MpiCommunicator::all_reduce_async(float* data, int64_t n, ReduceOp op) {
  if (HostStaging::needed(data)) {
    auto host = std::make_shared<HostStaging>(data, sizeof(float) * n, true);
    return staged_work(all_reduce_async(static_cast<float*>(host->data()), n, op), host, data);
  }
  return submit(
      "all_reduce",
      [=, c = comm_->comm] {
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, count(n), MPI_FLOAT, mpi_op(op), c));
      },
      4 * n);
}

void MpiCommunicator::all_reduce(float* data, int64_t n, ReduceOp op) {
  all_reduce_async(data, n, op)->wait();
}

void MpiCommunicator::all_reduce(double* data, int64_t n, ReduceOp op) {
  run("all_reduce", [&] {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, count(n), MPI_DOUBLE, mpi_op(op), comm_->comm));
  });
}

void MpiCommunicator::all_reduce(int64_t* data, int64_t n, ReduceOp op) {
  run("all_reduce", [&] {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, count(n), MPI_INT64_T, mpi_op(op), comm_->comm));
  });
}

void MpiCommunicator::broadcast(void* data, int64_t bytes, int root) {
  if (HostStaging::needed(data)) {
    HostStaging host(data, static_cast<size_t>(bytes), true);
    broadcast(host.data(), bytes, root);
    return host.copy_out(data);
  }
  run("broadcast", [&] { MPI_CHECK(MPI_Bcast(data, count(bytes), MPI_BYTE, root, comm_->comm)); });
}

// MPI's int counts and displacements of `counts` (shares back to back), and their sum.
static std::pair<std::vector<int>, std::vector<int>> counts_and_displacements(
    const std::vector<int64_t>& counts, int64_t* total) {
  std::vector<int> c, d;
  *total = 0;
  for (int64_t n : counts) {
    d.push_back(count(*total));
    c.push_back(count(n));
    *total += n;
  }
  return {c, d};
}

// MPI's in-place reduce-scatter leaves this rank's sums at the start of the buffer; they are
// moved to the rank's own place there.
std::unique_ptr<Work> MpiCommunicator::reduce_scatter_in_place_async(
    float* data, const std::vector<int64_t>& counts) {
  int64_t total = 0;
  auto [c, d] = counts_and_displacements(counts, &total);
  if (HostStaging::needed(data)) {
    auto host = std::make_shared<HostStaging>(data, sizeof(float) * total, true);
    return staged_work(reduce_scatter_in_place_async(static_cast<float*>(host->data()), counts),
                       host, data);
  }
  const int me = rank_;
  return submit(
      "reduce_scatter",
      [=, c = std::move(c), d = std::move(d), comm = comm_->comm] {
        MPI_CHECK(MPI_Reduce_scatter(MPI_IN_PLACE, data, c.data(), MPI_FLOAT, MPI_SUM, comm));
        std::memmove(data + d[me], data, sizeof(float) * static_cast<size_t>(c[me]));
      },
      4 * total);
}

// Gathering moves bytes, whatever they hold: the counts are taken in bytes.
std::unique_ptr<Work> MpiCommunicator::all_gather_in_place_async(void* data,
                                                                 const std::vector<int64_t>& counts,
                                                                 DType dtype) {
  std::vector<int64_t> bytes;
  for (int64_t n : counts) bytes.push_back(n * static_cast<int64_t>(dtype_size(dtype)));
  int64_t total = 0;
  auto [c, d] = counts_and_displacements(bytes, &total);
  if (HostStaging::needed(data)) {
    auto host = std::make_shared<HostStaging>(data, static_cast<size_t>(total), true);
    return staged_work(all_gather_in_place_async(host->data(), counts, dtype), host, data);
  }
  return submit(
      "all_gather",
      [=, c = std::move(c), d = std::move(d), comm = comm_->comm] {
        MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, c.data(), d.data(),
                                 MPI_BYTE, comm));
      },
      total);
}

void MpiCommunicator::all_gather(const void* send, int64_t bytes, void* recv) {
  run("all_gather", [&] {
    MPI_CHECK(
        MPI_Allgather(send, count(bytes), MPI_BYTE, recv, count(bytes), MPI_BYTE, comm_->comm));
  });
}

// A send or receive in flight: MPI_Isend or MPI_Irecv has returned, and the MPI thread tests it
// in the background. Waiting on it is one more MPI call (MPI_Wait, under the watchdog: a peer
// that never sends or receives ends the job), run inline when the MPI thread is idle, so a
// waiter sees the message as soon as it is in.
class RequestWork : public Work {
 public:
  RequestWork(MpiCommunicator& comm, std::shared_ptr<PendingRequest> request, const char* name,
              int world_peer)
      : comm_(comm), request_(std::move(request)), name_(name), peer_(world_peer) {}
  // The buffer must not be released under a transfer in flight; a failure here is reported by
  // the operation that failed first.
  ~RequestWork() override {
    try {
      wait();
    } catch (...) {
    }
  }
  void wait() override {
    if (request_->complete()) return request_->wait();  // rethrows its error, if any
    comm_.run(
        name_, [&] { request_->wait(); }, peer_);
  }
  bool done() const override { return request_->complete(); }
  trace::Clock::time_point finished_at() const override { return request_->finished_at(); }
  void cancel() override {
    if (request_->complete()) return;
    comm_.run(
        name_, [&] { request_->cancel(); }, peer_);
  }

 private:
  MpiCommunicator& comm_;
  std::shared_ptr<PendingRequest> request_;
  const char* name_;
  int peer_;
};

std::unique_ptr<Work> MpiCommunicator::send_async(const void* data, int64_t bytes, int peer,
                                                  int tag) {
  if (HostStaging::needed(data)) {
    auto host = std::make_shared<HostStaging>(data, static_cast<size_t>(bytes), true);
    return staged_work(send_async(host->data(), bytes, peer, tag), host, nullptr);
  }
  return post("send to", peer, [&](MPI_Request* request) {
    MPI_CHECK(MPI_Isend(data, count(bytes), MPI_BYTE, peer, tag, comm_->comm, request));
  });
}

std::unique_ptr<Work> MpiCommunicator::recv_async(void* data, int64_t bytes, int peer, int tag) {
  if (HostStaging::needed(data)) {
    auto host = std::make_shared<HostStaging>(data, static_cast<size_t>(bytes), false);
    return staged_work(recv_async(host->data(), bytes, peer, tag), host, data);
  }
  return post("recv from", peer, [&](MPI_Request* request) {
    MPI_CHECK(MPI_Irecv(data, count(bytes), MPI_BYTE, peer, tag, comm_->comm, request));
  });
}

template <class Post>
std::unique_ptr<Work> MpiCommunicator::post(const char* name, int peer, Post&& issue) {
  auto request = std::make_shared<PendingRequest>();
  const int world_peer = world_ranks_.at(static_cast<size_t>(peer));
  run(
      name,
      [&] {
        issue(&request->request);
        runtime_->watch(request);
      },
      world_peer);
  return std::make_unique<RequestWork>(*this, std::move(request), name, world_peer);
}

void MpiCommunicator::barrier() {
  run("barrier", [&] { MPI_CHECK(MPI_Barrier(comm_->comm)); });
}

std::unique_ptr<MpiCommunicator> MpiCommunicator::split(int color) {
  auto handle = std::make_unique<MpiCommHandle>();
  run("MPI_Comm_split",
      [&] { MPI_CHECK(MPI_Comm_split(comm_->comm, color, rank_, &handle->comm)); });
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(runtime_, std::move(handle)));
}

void MpiCommunicator::abort_job(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

void MpiCommunicator::set_timeout(double seconds) { runtime_->watchdog().set_limit(seconds); }

}  // namespace trainer
