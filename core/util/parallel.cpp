#include "core/util/parallel.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace qls {

namespace {
std::atomic<std::size_t> g_threads{0};

std::size_t default_threads() {
    if (const char* env = std::getenv("QLS_THREADS")) {
        const long v = std::strtol(env, nullptr, 10);
        if (v > 0) return static_cast<std::size_t>(v);
    }
    return std::max(1u, std::thread::hardware_concurrency());
}
}  // namespace

std::size_t num_threads() {
    const std::size_t n = g_threads.load();
    return n ? n : default_threads();
}

void set_num_threads(std::size_t n) { g_threads.store(n); }

void parallel_for(std::size_t n, std::size_t grain,
                  const std::function<void(std::size_t, std::size_t)>& body) {
    if (n == 0) return;
    grain = std::max<std::size_t>(grain, 1);
    const std::size_t chunks = std::min(num_threads(), (n + grain - 1) / grain);
    if (chunks <= 1) {
        body(0, n);
        return;
    }
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto run = [&](std::size_t c) {
        const std::size_t begin = n * c / chunks, end = n * (c + 1) / chunks;
        try {
            body(begin, end);
        } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!first_error) first_error = std::current_exception();
        }
    };
    {
        std::vector<std::jthread> workers;
        workers.reserve(chunks - 1);
        for (std::size_t c = 1; c < chunks; ++c) workers.emplace_back(run, c);
        run(0);
    }  // jthreads join here
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace qls
