#include "core/train/run_plan.h"

#include <algorithm>
#include <cmath>

#include "core/train/lr_schedule.h"
#include "core/util/error.h"

namespace qls {

std::int64_t planned_total_steps(const TrainConfig& c, std::int64_t batches_per_epoch) {
    if (c.max_steps > 0) return c.max_steps;
    const double steps = std::ceil(c.epochs * double(batches_per_epoch) / double(c.grad_accum));
    return std::max<std::int64_t>(1, std::int64_t(steps));
}

std::vector<RunWarning> run_warnings(const TrainConfig& c, std::int64_t total_steps, std::size_t valid_examples) {
    std::vector<RunWarning> out;
    const LrSchedule schedule(c.optim.adamw.lr, c.optim.schedule, total_steps);
    // HF's warm-up starts at rate 0, so a run no longer than its warm-up spends every update
    // below the chosen rate, and a run of one warm-up step does not change the adapter at all.
    std::int64_t zero_steps = 0;
    for (std::int64_t s = 0; s < total_steps; ++s) zero_steps += schedule.lr_at(s) == 0.0;
    const char* warmup_key = c.optim.schedule.warmup_steps > 0 ? "optim.warmup_steps" : "optim.warmup_ratio";
    if (zero_steps == total_steps) {
        out.push_back({warmup_key, str_cat("the learning rate is 0 at every one of the ", total_steps,
                                           " step(s) (warm-up starts at 0), so the adapter will not change: "
                                           "set warm-up to 0 or train for more steps")});
    } else if (schedule.warmup_steps() >= total_steps) {
        out.push_back({warmup_key, str_cat("the warm-up (", schedule.warmup_steps(), " steps) is as long as the run (",
                                           total_steps, " steps), so the learning rate never reaches ",
                                           c.optim.adamw.lr, ": shorten the warm-up or train for more steps")});
    }
    if (valid_examples == 0) {
        out.push_back({"data.valid_fraction",
                       str_cat("there are no validation examples, so there will be no validation loss",
                               c.early_stop_patience > 0 ? ", no best checkpoint and no early stopping" : "",
                               ": raise the validation split or choose a validation file")});
    }
    return out;
}

}  // namespace qls
