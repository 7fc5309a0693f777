// One run of the trainer thread: load, prepare the data, then optimizer steps with evaluation,
// checkpoints, early stopping and the final export, reporting every step. Lives only inside
// Trainer::run.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>

#include "core/backend/backend_registry.h"
#include "core/data/batch_sampler.h"
#include "core/data/dataset.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/model/shared_base.h"
#include "core/train/adamw_optimizer.h"
#include "core/train/checkpoint.h"
#include "core/train/lr_schedule.h"
#include "core/train/run_folder.h"
#include "core/train/run_lock.h"
#include "core/train/tensorboard_log.h"
#include "core/train/trainer.h"

namespace qls {

class TrainingSession {
public:
    TrainingSession(Trainer& trainer, std::stop_token token);
    ~TrainingSession();
    void run();
    // An error that ends the run (thrown out of run()) into the run's event log, when it has one.
    void record_failure(const ErrorInfo& error) noexcept;

private:
    void load();
    void restore_latest();
    bool train_step();  // false when the run must end now (NaN/Inf: m_diverged)
    EvalResult evaluate();
    void save(bool final_save);
    void prune_checkpoints();
    void export_adapter();
    void emit(TrainEvent e);
    void set_state(TrainerState state, std::string message = {});
    double elapsed() const;
    std::uint64_t dropout_seed(std::int64_t step, std::int64_t micro) const;
    PagingEvent paging_event(const CheckpointMove& move) const;

    Trainer& m_trainer;
    const TrainConfig& m_config;
    std::optional<RunLock> m_lock;  // held from the start of load() to the end of the run
    std::stop_token m_token;
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
    double m_elapsed_before = 0;  // from the checkpoint resumed

    Model m_model;
    PreparedDataset m_data;
    RunFolder m_folder;
    TensorBoardLog m_tensorboard{m_config.run_dir};  // the same metrics for TensorBoard
    BackendChoice m_device;  // from the registry; its backend moves into m_base on load
    Backend* m_backend = nullptr;
    DType m_compute = DType::F32;  // the resolved compute dtype
    LossScaler m_scaler{false, 1};  // fp16 only
    // Holds the backend; before anything else that lives on it. Others may hold it after the run.
    std::shared_ptr<SharedBase> m_base;
    std::unique_ptr<LoraParameters> m_lora;
    std::unique_ptr<LlamaModel> m_llama;
    std::unique_ptr<AdamWOptimizer> m_optimizer;
    std::unique_ptr<LrSchedule> m_schedule;
    std::unique_ptr<BatchSampler> m_sampler;
    std::vector<Batch> m_eval_batches;
    std::int64_t m_total_steps = 0;
    TrainerProgress m_progress;
    std::optional<std::int64_t> m_last_saved;
    // The state in memory gave NaN/Inf (the loss, the gradient, the update or the validation
    // loss): it is never saved, marked best or exported; the run ends failed, and the last
    // checkpoint stays the resume point.
    bool m_diverged = false;
};

}  // namespace qls
