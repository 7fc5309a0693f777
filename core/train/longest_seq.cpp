#include "core/train/longest_seq.h"

namespace qls {

LongestSeq longest_seq(const ModelLayout& model, const EstimateOptions& options, const MemoryPlanner& planner) {
    EstimateOptions o = options;
    LongestSeq r;
    o.offload_checkpoints = false;
    r.plain = fit_largest(model, o, FitDimension::SeqLen, planner);
    // Without checkpointing every activation stays for backward: there is nothing to offload.
    if (o.checkpointing) {
        o.offload_checkpoints = true;
        r.offloaded = fit_largest(model, o, FitDimension::SeqLen, planner);
    }
    return r;
}

}  // namespace qls
