// A fixed pool of worker threads for the CPU backend. parallel_for splits a range into one
// contiguous chunk per thread; the calling thread runs the first chunk itself. Work items must be
// independent: every reduction stays inside one item, which keeps results identical whatever the
// batch or thread count (the batch-invariance the engine promises). An exception thrown by a
// chunk is rethrown to the caller of parallel_for.
#pragma once
#include <condition_variable>
#include <exception>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nodellm {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn(begin, end) over [0, n) in chunks; chunks smaller than min_chunk are not split off.
  void parallel_for(int64_t n, int64_t min_chunk,
                    const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;  // the first exception a worker threw in the current job
};

}  // namespace nodellm
