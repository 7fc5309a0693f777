// One process at a time per run folder: an exclusive advisory lock (flock) on <run>/.lock,
// held while a run trains. The kernel drops it when the process ends however it ends (kill -9
// included), so a stale lock never blocks a resume. The file says which process holds it.
#pragma once
#include <filesystem>

namespace qls {

class RunLock {
public:
    // Creates the run folder if needed and takes the lock; ConfigError naming the holder's pid
    // when another process holds it.
    explicit RunLock(const std::filesystem::path& run_dir);
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;
    ~RunLock();

private:
    int m_fd = -1;
};

// Removes what an interrupted save left in a run folder: the hidden temporary siblings
// (".step-N.tmp-…", ".adapter.tmp-…", ".run.json.tmp-…") of atomic writes. Call with the
// run's lock held, so that no live save is touched. Returns how many were removed.
int remove_interrupted_saves(const std::filesystem::path& run_dir);

}  // namespace qls
