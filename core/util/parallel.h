// Data-parallel loops over index ranges on a fixed set of worker threads.
#pragma once
#include <cstddef>
#include <functional>

namespace qls {

// Threads used by parallel_for: QLS_THREADS from the environment, else the hardware count.
std::size_t num_threads();
void set_num_threads(std::size_t n);  // 0 restores the default

// Split [0, n) into contiguous chunks of at least `grain` indices and call body(begin, end)
// for each, on up to num_threads() threads. The first exception thrown by a body is rethrown
// after all chunks finished. Chunk boundaries depend only on n, grain and the thread count,
// so results that are combined per chunk are deterministic for a given thread count.
void parallel_for(std::size_t n, std::size_t grain,
                  const std::function<void(std::size_t begin, std::size_t end)>& body);

}  // namespace qls
