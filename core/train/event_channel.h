// The trainer -> consumer queue. push() never blocks on the consumer: memory samples coalesce
// into the latest one, and when more than `capacity` events wait, the oldest paging events, load
// progress and info log lines are dropped (and counted) before anything else. Step metrics,
// evaluation results, state changes and errors are never dropped.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "core/train/train_events.h"

namespace qls {

class EventChannel {
public:
    explicit EventChannel(std::size_t capacity = 4096) : m_capacity(capacity) {}

    void push(TrainEvent e);
    // Moves every pending event (in order, the latest memory sample last) into `out`.
    void drain(std::vector<TrainEvent>& out);
    // drain(), waiting up to `timeout` for the first event.
    void wait_and_drain(std::vector<TrainEvent>& out, std::chrono::milliseconds timeout);
    std::size_t dropped() const;

private:
    bool droppable(const TrainEvent& e) const;

    std::size_t m_capacity;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<TrainEvent> m_queue;          // guarded by m_mutex
    std::optional<MemorySample> m_memory;    // guarded by m_mutex
    std::size_t m_dropped = 0;               // guarded by m_mutex
};

}  // namespace qls
