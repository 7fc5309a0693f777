// The rate a backend multiplies dense matrices at, measured through its own linear op (on CUDA a
// cuBLAS GEMM, on the CPU OpenBLAS), as the ceiling a training step's useful FLOP/s is set
// against: y = x·Wᵀ with x (rows, in) and W (out, in) dense in the run's compute dtype.
#pragma once
#include <cstdint>

#include "core/backend/backend.h"

namespace qls {

struct GemmRate {
    std::int64_t rows = 0, in = 0, out = 0;
    DType dtype = DType::F32;
    double median_s = 0;  // one GEMM, median of the timed repetitions
    double best_s = 0;
    double flops = 0;  // 2·rows·in·out
    // At the best repetition: a ceiling, so the least disturbed run on a shared machine (the
    // step it is set against is a median, which noise can only lengthen).
    double flops_per_s = 0;
};

// `reps` timed GEMMs after two untimed ones, each synchronized. Its buffers are Workspace, freed
// on return: measure after reading the accountant's peaks of a run, not before.
GemmRate measure_gemm_rate(Backend& backend, std::int64_t rows, std::int64_t in, std::int64_t out,
                           DType dtype, int reps);

}  // namespace qls
