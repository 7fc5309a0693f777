#include "core/util/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
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

namespace {

// Workers that live for the whole program: parallel_for runs hundreds of times per training
// step, and starting threads for each call cost more than the work on small models. One job
// runs at a time; a call made while another runs (a nested call, or a second thread such as
// the playground beside the trainer) runs its chunks inline, in the same chunks, so results do
// not depend on who ran them.
class WorkerPool {
public:
    static WorkerPool& instance() {
        static WorkerPool pool;
        return pool;
    }

    // Calls task(c) for every c in [0, chunks), the caller taking its share.
    void run(std::size_t chunks, const std::function<void(std::size_t)>& task) {
        std::unique_lock job(m_job_mutex, std::try_to_lock);
        if (!job.owns_lock() || t_in_worker) {
            for (std::size_t c = 0; c < chunks; ++c) task(c);
            return;
        }
        ensure_workers(chunks - 1);
        {
            std::lock_guard lock(m_mutex);
            m_task = &task;
            m_chunks = chunks;
            m_next = 0;
            m_remaining = chunks;
            ++m_generation;
        }
        m_wake.notify_all();
        work();
        std::unique_lock lock(m_mutex);
        m_done.wait(lock, [&] { return m_remaining == 0; });
        m_task = nullptr;
    }

    ~WorkerPool() {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_wake.notify_all();
        for (std::thread& t : m_workers) t.join();
    }

private:
    void ensure_workers(std::size_t n) {
        while (m_workers.size() < n) m_workers.emplace_back([this] { worker_loop(); });
    }

    // Takes chunks until none is left.
    void work() {
        for (;;) {
            const std::size_t c = m_next.fetch_add(1);
            if (c >= m_chunks) return;
            (*m_task)(c);
            std::lock_guard lock(m_mutex);
            if (--m_remaining == 0) m_done.notify_all();
        }
    }

    void worker_loop() {
        t_in_worker = true;
        std::uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock lock(m_mutex);
                m_wake.wait(lock, [&] { return m_stop || (m_generation != seen && m_task); });
                if (m_stop) return;
                seen = m_generation;
            }
            work();
        }
    }

    static thread_local bool t_in_worker;
    std::mutex m_job_mutex;
    std::mutex m_mutex;
    std::condition_variable m_wake, m_done;
    const std::function<void(std::size_t)>* m_task = nullptr;  // guarded by m_mutex
    std::size_t m_chunks = 0;
    std::atomic<std::size_t> m_next{0};
    std::size_t m_remaining = 0;     // guarded by m_mutex
    std::uint64_t m_generation = 0;  // guarded by m_mutex
    bool m_stop = false;             // guarded by m_mutex
    std::vector<std::thread> m_workers;
};

thread_local bool WorkerPool::t_in_worker = false;

}  // namespace

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
    WorkerPool::instance().run(chunks, [&](std::size_t c) {
        const std::size_t begin = n * c / chunks, end = n * (c + 1) / chunks;
        try {
            body(begin, end);
        } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!first_error) first_error = std::current_exception();
        }
    });
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace qls
