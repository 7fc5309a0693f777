#include "core/train/event_channel.h"

namespace qls {

std::string_view trainer_state_name(TrainerState s) {
    switch (s) {
        case TrainerState::Idle: return "idle";
        case TrainerState::Loading: return "loading";
        case TrainerState::Training: return "training";
        case TrainerState::Paused: return "paused";
        case TrainerState::Evaluating: return "evaluating";
        case TrainerState::Saving: return "saving";
        case TrainerState::Finished: return "finished";
        case TrainerState::Stopped: return "stopped";
        case TrainerState::Cancelled: return "cancelled";
        case TrainerState::Failed: return "failed";
    }
    return "?";
}

bool EventChannel::droppable(const TrainEvent& e) const {
    return std::holds_alternative<PagingEvent>(e) || std::holds_alternative<LoadProgress>(e) ||
           (std::holds_alternative<LogLine>(e) && std::get<LogLine>(e).level == LogLine::Level::Info);
}

void EventChannel::push(TrainEvent e) {
    {
        std::lock_guard lock(m_mutex);
        if (auto* m = std::get_if<MemorySample>(&e)) {
            m_memory = std::move(*m);
        } else {
            m_queue.push_back(std::move(e));
            if (m_queue.size() > m_capacity) {
                for (auto it = m_queue.begin(); it != m_queue.end(); ++it)
                    if (droppable(*it)) {
                        m_queue.erase(it);
                        ++m_dropped;
                        break;
                    }
            }
        }
    }
    m_cv.notify_one();
}

void EventChannel::drain(std::vector<TrainEvent>& out) {
    std::lock_guard lock(m_mutex);
    for (auto& e : m_queue) out.push_back(std::move(e));
    m_queue.clear();
    if (m_memory) {
        out.emplace_back(std::move(*m_memory));
        m_memory.reset();
    }
}

void EventChannel::wait_and_drain(std::vector<TrainEvent>& out, std::chrono::milliseconds timeout) {
    {
        std::unique_lock lock(m_mutex);
        m_cv.wait_for(lock, timeout, [&] { return !m_queue.empty() || m_memory.has_value(); });
    }
    drain(out);
}

std::size_t EventChannel::dropped() const {
    std::lock_guard lock(m_mutex);
    return m_dropped;
}

}  // namespace qls
