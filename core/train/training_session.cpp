#include "core/train/training_session.h"

#include <algorithm>
#include <cmath>

#include "core/backend/dropout_mask.h"
#include "core/export/base_model_id.h"
#include "core/export/peft_adapter.h"
#include "core/tokenizer/tokenizer.h"
#include "core/model/model_layout.h"
#include "core/train/offload_choice.h"
#include "core/train/run_budget.h"
#include "core/train/run_plan.h"
#include "core/util/atomic_file.h"
#include "core/util/compute_dtype.h"

namespace qls {

TrainingSession::TrainingSession(Trainer& trainer, std::stop_token token)
    : m_trainer(trainer), m_config(trainer.m_config), m_token(std::move(token)), m_folder(m_config.run_dir) {}

TrainingSession::~TrainingSession() {
    // A Playground still reading the base keeps the backend alive: without the run's scratch.
    if (m_base && m_base.use_count() > 1) {
        try {
            m_backend->release_op_scratch();
        } catch (const std::exception&) {
            // A device that failed the run fails this too; the scratch then goes with the base.
        }
    }
}

void TrainingSession::set_state(TrainerState state, std::string message) {
    // The run's log keeps the states that say something (loading, the start, saves, the end),
    // so a reopened run says how it ended; the bare flips around evaluations stay out of it.
    if (!message.empty()) m_folder.append_event(StateChange{state, message});
    m_trainer.set_state(state, std::move(message));
}

void TrainingSession::record_failure(const ErrorInfo& error) noexcept {
    try {
        m_folder.append_event(error);
        m_folder.append_event(StateChange{TrainerState::Failed, error.what});
    } catch (...) {
        // The log itself may be what failed (a full disk): the event channel still has it.
    }
}

void TrainingSession::emit(TrainEvent e) {
    // Steps and evaluations go to metrics.jsonl; everything else but the load's progress is the
    // run's event log.
    if (!std::holds_alternative<StepMetrics>(e) && !std::holds_alternative<EvalResult>(e) &&
        !std::holds_alternative<LoadProgress>(e))
        m_folder.append_event(e);
    const std::optional<std::string> tensorboard_failure = m_tensorboard.add(e);
    m_trainer.m_events.push(std::move(e));
    if (tensorboard_failure) emit(LogLine{LogLine::Level::Warning, *tensorboard_failure});
}

double TrainingSession::elapsed() const {
    return m_elapsed_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
}

// An offloaded layer input's move, reported beside the optimizer's page moves.
PagingEvent TrainingSession::paging_event(const CheckpointMove& move) const {
    PagingEvent e;
    e.time_s = std::chrono::duration<double>(move.at - m_start).count();
    e.step = m_progress.step + 1;  // the step being run, as the optimizer labels its moves
    e.direction = move.to_host ? PagingEvent::Direction::ToHost : PagingEvent::Direction::ToDevice;
    e.bytes = move.bytes;
    e.layer = move.layer;
    e.reason = move.to_host ? str_cat("offload layer ", move.layer, "'s input after its forward")
                            : str_cat("fetch layer ", move.layer, "'s input for its backward");
    return e;
}

std::uint64_t TrainingSession::dropout_seed(std::int64_t step, std::int64_t micro) const {
    return mix64(m_config.seed ^ mix64(static_cast<std::uint64_t>(step) * 4096u + static_cast<std::uint64_t>(micro)));
}

void TrainingSession::load() {
    set_state(TrainerState::Loading, "loading " + m_config.model.string());
    // One process per run folder, for the whole run: a second resume is refused, not raced.
    m_lock.emplace(m_config.run_dir);
    if (const int removed = remove_interrupted_saves(m_config.run_dir); removed > 0)
        emit(LogLine{LogLine::Level::Info,
                     str_cat("removed ", removed, " unfinished save(s) an interrupted process left behind")});
    // The device first: a device this build or machine lacks is refused before any loading.
    m_device = make_backend(parse_device(m_config.device));
    m_backend = m_device.backend.get();
    // Read before the model takes any of it: the device's free memory and what the backend
    // already holds (cuBLAS's workspace, which the estimate counts) are what the run can have.
    RunBudget budget = run_budget(m_config.device_limit_bytes, parse_device(m_config.device));
    if (budget.source == RunBudget::Source::DeviceFree) budget.bytes += m_backend->memory().snapshot().device_current;
    const ProgressFn cancel_check = [&](std::size_t, std::size_t) { return !m_token.stop_requested(); };
    m_model = load_model(m_config.model);
    const Tokenizer tokenizer = load_model_tokenizer(m_model);
    m_data = prepare_dataset(m_config.data, tokenizer, {}, cancel_check);
    for (const DataIssue& issue : m_data.issues)
        emit(LogLine{LogLine::Level::Warning, issue.to_string()});
    emit(LogLine{LogLine::Level::Info,
                 str_cat(m_data.train.size(), " training and ", m_data.valid.size(), " validation examples (",
                         m_data.issues.size(), " skipped)")});
    m_compute = resolve_compute_dtype(m_config.compute_dtype, *m_backend);
    m_scaler = LossScaler(m_compute == DType::F16, m_config.initial_loss_scale);
    const RunDevice device{m_device.kind, m_device.device, compute_dtype_name(m_compute), m_device.threads,
                           m_device.reason};
    if (m_trainer.m_resume) {
        const nlohmann::json run = RunFolder::read_run_json(m_config.run_dir);
        // Reductions split over threads add in another order: the last bits of the losses
        // follow the thread count.
        const nlohmann::json started = run.value("device", nlohmann::json::object());
        if (started.contains("threads") && started["threads"] != device.threads)
            emit(LogLine{LogLine::Level::Warning,
                         str_cat("this run started with ", started["threads"].dump(), " threads and resumes with ",
                                 device.threads, ": its losses may differ from an uninterrupted run's in the last "
                                 "digits (set QLS_THREADS=", started["threads"].dump(), " for identical ones)")});
        QLS_CHECK(ConfigError, run.value("dataset_fingerprint", nlohmann::json()) == fingerprint(m_config.data.path),
                  "the dataset '", m_config.data.path.string(),
                  "' changed since the run started; a resumed run must see the same data");
        // A model given anew (moved, or the run stored a relative path) must be the same bytes.
        if (m_trainer.m_resume_changes.contains("model"))
            QLS_CHECK(ConfigError, run.value("model_fingerprint", nlohmann::json()) == fingerprint(m_config.model),
                      "'", m_config.model.string(), "' is not the model this run started with (",
                      run.value("model_fingerprint", nlohmann::json()).dump(), ")");
    } else {
        m_folder.create(m_config, device, fingerprint(m_config.model), fingerprint(m_config.data.path));
    }
    m_backend->memory().set_device_limit(m_config.device_limit_bytes);
    BaseWeightsOptions base = m_config.base;
    base.compute = m_compute;
    // The backend goes into the base, which the studio's Playground may read while the run
    // trains (shared_base.h); m_backend stays the same object.
    const ProgressFn load_progress = [&](std::size_t done, std::size_t total) {
        emit(LoadProgress{static_cast<std::int64_t>(done), static_cast<std::int64_t>(total)});
        return !m_token.stop_requested();
    };
    m_base = std::make_shared<SharedBase>(std::move(m_device),
                                          "the training run in " + m_config.run_dir.filename().string(),
                                          m_model, base, load_progress);
    publish_shared_base(m_base);
    m_lora = std::make_unique<LoraParameters>(*m_backend, m_model.config, m_config.lora);
    emit(LogLine{LogLine::Level::Info,
                 str_cat("LoRA r=", m_config.lora.rank, " on ", m_config.lora.targets.size(), " module kinds: ",
                         m_lora->parameter_count(), " trainable parameters; base ",
                         base_quantization_label(base, kept_gguf_blocks(m_model.weights, m_model.config, base)), " on ",
                         m_backend->name(), ", computing in ", compute_dtype_name(m_compute),
                         m_scaler.enabled() ? " with dynamic loss scaling" : "")});
    const auto seq = static_cast<std::int64_t>(m_config.data.max_seq_len);
    // Decided from the estimate against the budget before the model allocates anything.
    EstimateOptions planned;
    planned.base = base;
    planned.lora = m_config.lora;
    planned.micro_batch = m_config.micro_batch;
    planned.seq_len = seq;
    planned.checkpointing = m_config.checkpointing;
    planned.paging = m_config.optim.paging;
    planned.device_bytes = budget.bytes;
    if (budget.source == RunBudget::Source::DeviceFree)
        emit(LogLine{LogLine::Level::Info, str_cat("planning against ", budget.reason)});
    const ModelLayout layout = model_layout(m_model);
    const OffloadChoice offload = choose_offload(m_config.offload_checkpoints, layout, planned, *m_backend);
    if (!offload.reason.empty()) emit(LogLine{LogLine::Level::Info, offload.reason});
    planned.offload_checkpoints = offload.offload;
    const MemoryEstimate estimate = estimate_memory(layout, planned, *m_backend);
    const std::int64_t rows = m_config.micro_batch * seq;
    if (estimate.mlp_chunk < rows)
        emit(LogLine{LogLine::Level::Info,
                     str_cat("running the MLP in chunks of ", estimate.mlp_chunk, " rows: its whole ", rows,
                             "-row intermediate would not fit the budget of ", format_bytes(planned.device_bytes))});
    m_llama = std::make_unique<LlamaModel>(
        *m_backend, m_base->base(), m_lora.get(),
        ModelRunOptions{m_config.micro_batch, seq, m_config.checkpointing, 0, m_compute, offload.offload,
                        estimate.mlp_chunk < rows ? estimate.mlp_chunk : 0});
    m_optimizer = std::make_unique<AdamWOptimizer>(*m_backend, m_lora->params(), m_config.optim.adamw,
                                                   m_config.optim.paging);
    m_optimizer->set_time_origin(m_start);
    SamplerOptions sampling;
    sampling.batch_size = static_cast<std::size_t>(m_config.micro_batch);
    sampling.max_seq_len = m_config.data.max_seq_len;
    sampling.packing = m_config.data.packing;
    sampling.seed = m_config.seed;
    sampling.pad_id = padding_id(tokenizer);
    m_sampler = std::make_unique<BatchSampler>(m_data.train, sampling);
    m_eval_batches = make_eval_batches(m_data.valid, sampling);
    const auto per_epoch = static_cast<std::int64_t>(m_sampler->batches_per_epoch());
    m_total_steps = planned_total_steps(m_config, per_epoch);
    m_schedule = std::make_unique<LrSchedule>(m_config.optim.adamw.lr, m_config.optim.schedule, m_total_steps);
    if (!m_trainer.m_resume)
        for (const RunWarning& w : run_warnings(m_config, m_total_steps, m_data.valid.size()))
            emit(LogLine{LogLine::Level::Warning, str_cat("warning: ", w.message, " (", w.field, ")")});
    if (m_trainer.m_resume) {
        restore_latest();
        if (!m_trainer.m_resume_changes.empty()) {
            m_folder.record_resume(m_config, m_progress.step, m_trainer.m_resume_changes);
            std::string text;
            for (const auto& [key, change] : m_trainer.m_resume_changes.items())
                text += str_cat(text.empty() ? "" : ", ", key, " ", change["from"].dump(), " -> ", change["to"].dump());
            emit(LogLine{LogLine::Level::Info, str_cat("resumed at step ", m_progress.step, " with changes: ", text)});
        }
    }
    emit(device);  // after reopening a resumed run's logs, so events.jsonl has it too
}

void TrainingSession::restore_latest() {
    const std::vector<std::int64_t> steps = list_checkpoints(m_config.run_dir);
    // The newest intact checkpoint: a damaged one (a flipped bit, a file cut short) is set
    // aside with a warning, never resumed from and never deleted.
    std::optional<Checkpoint> found;
    std::vector<std::string> damaged;
    for (auto it = steps.rbegin(); it != steps.rend() && !found; ++it) {
        try {
            found = load_checkpoint(checkpoint_dir(m_config.run_dir, *it));
        } catch (const Error& e) {
            damaged.push_back(e.what());
        }
    }
    for (const std::string& why : damaged)
        emit(LogLine{LogLine::Level::Warning, str_cat("skipping a damaged checkpoint: ", why)});
    QLS_CHECK(FormatError, found || damaged.empty(), "every checkpoint of the run in '", m_config.run_dir.string(),
              "' is damaged (", damaged.front(), "): the run cannot be resumed");
    if (!found) {
        m_folder.reopen(0);
        emit(LogLine{LogLine::Level::Info, "no checkpoint yet: starting the run from step 0"});
        return;
    }
    const Checkpoint& c = *found;
    m_lora->from_host(c.adapter);
    m_optimizer->import_state(c.optimizer);
    m_sampler->seek(c.progress.data);
    m_progress = c.progress;
    m_scaler.restore(c.progress.loss_scale);
    m_elapsed_before = c.progress.elapsed_s;
    m_last_saved = c.progress.step;
    m_folder.reopen(c.progress.step);
    emit(LogLine{LogLine::Level::Info, str_cat("resumed from checkpoint step-", c.progress.step)});
}

bool TrainingSession::train_step() {
    const auto t0 = std::chrono::steady_clock::now();
    const std::int64_t syncs_before = m_backend->host_syncs();
    std::vector<Batch> micro;
    std::int64_t trained = 0, tokens = 0;
    for (std::int64_t m = 0; m < m_config.grad_accum; ++m) {
        micro.push_back(m_sampler->next());
        trained += micro.back().trained_tokens();
        tokens += std::count_if(micro.back().segments.begin(), micro.back().segments.end(),
                                [](std::int32_t s) { return s >= 0; });
    }
    m_lora->zero_grads();
    m_llama->reset_loss();
    // Loss normalised by the trained tokens of the whole accumulated batch, so accumulation
    // equals the bigger batch; in fp16 times the loss scale, which the optimizer divides out.
    const double loss_scale = m_scaler.scale();
    const float scale = trained > 0 ? static_cast<float>(loss_scale / static_cast<double>(trained)) : 0.0f;
    for (std::size_t m = 0; m < micro.size(); ++m)
        m_llama->forward_backward(micro[m], scale, dropout_seed(m_progress.step, static_cast<std::int64_t>(m)));
    const double lr = m_schedule->lr_at(m_progress.step);
    // Everything above and the update run without a host read; the step reads back once.
    const OptimizerStepResult r =
        m_optimizer->step(lr, m_llama->loss_sum(), static_cast<float>(1.0 / loss_scale));
    const double loss = trained > 0 ? r.loss_sum / static_cast<double>(trained) : 0.0;
    for (const CheckpointMove& move : m_llama->drain_checkpoint_moves()) emit(paging_event(move));
    for (PagingEvent& p : m_optimizer->drain_paging_events()) emit(std::move(p));
    // fp16: gradients that overflowed at this scale skip the update (the device already did) and
    // the scale backs off. A non-finite loss is not the scale's doing: it stops the run.
    const bool skipped = !r.applied && m_scaler.enabled() && std::isfinite(loss);
    m_scaler.update(r.applied);
    if (skipped)
        emit(LogLine{LogLine::Level::Warning,
                     str_cat("step ", m_progress.step + 1, " skipped: fp16 gradients overflowed at loss scale ",
                             loss_scale, "; the scale is now ", m_scaler.scale())});
    const auto advice = [lr] {
        return str_cat("lower the learning rate (now ", lr,
                       "), keep gradient clipping on, or check the data; then resume from the last checkpoint with "
                       "a lower rate: qlora train --resume RUN --lr X [--max-grad-norm 0.3]");
    };
    if (!r.applied && !skipped) {
        // The update was not applied, but the state that gave a NaN loss or gradient is no
        // state to resume from either: the last checkpoint stays the resume point.
        m_diverged = true;
        emit(ErrorInfo{str_cat(std::isfinite(loss) ? "the gradient" : "the loss", " became NaN/Inf at step ",
                               m_progress.step + 1, " (loss ", loss, ", gradient norm ", r.grad_norm,
                               "); nothing of this state was saved"),
                       advice(), true});
        return false;
    }
    if (!r.params_finite) {
        // The update itself overflowed: the adapter in memory is lost, the last checkpoint stays.
        m_diverged = true;
        emit(ErrorInfo{str_cat("the update at step ", m_progress.step + 1,
                               " made LoRA weights NaN/Inf (loss before it ", loss, ", gradient norm ", r.grad_norm,
                               ", learning rate ", lr, "); nothing of it was saved"),
                       advice(), true});
        return false;
    }
    ++m_progress.step;
    m_progress.loss_scale = m_scaler.state();
    m_progress.data = m_sampler->position();
    m_progress.tokens_seen += tokens;
    m_progress.last_train_loss = loss;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    StepMetrics s;
    s.step = m_progress.step;
    s.total_steps = m_total_steps;
    s.epoch = static_cast<double>(m_progress.data.epoch) +
              static_cast<double>(m_progress.data.cursor) / static_cast<double>(m_sampler->batches_per_epoch());
    s.loss = loss;
    s.lr = lr;
    s.grad_norm = r.grad_norm;
    s.tokens = tokens;
    s.trained_tokens = trained;
    s.tokens_per_s = dt > 0 ? static_cast<double>(tokens) / dt : 0;
    s.host_syncs = m_backend->host_syncs() - syncs_before;
    s.loss_scale = loss_scale;
    s.skipped = skipped;
    s.elapsed_s = elapsed();
    s.eta_s = s.elapsed_s / static_cast<double>(m_progress.step) * static_cast<double>(m_total_steps - m_progress.step);
    m_folder.append_metrics(event_to_json(s));
    emit(s);
    emit(MemorySample{s.elapsed_s, s.step, m_backend->memory().snapshot(), m_config.device_limit_bytes,
                      m_backend->device_bytes_in_use().value_or(0)});
    return true;
}

EvalResult TrainingSession::evaluate() {
    set_state(TrainerState::Evaluating);
    m_llama->reset_loss();
    for (const Batch& b : m_eval_batches) m_llama->add_loss(b);
    const LossSum sum = m_llama->read_loss();
    EvalResult r;
    r.step = m_progress.step;
    r.loss = sum.mean();
    r.perplexity = std::exp(r.loss);
    r.tokens = sum.tokens;
    if (!std::isfinite(r.loss)) {
        // Never a best, never saved: the caller ends the run.
        m_diverged = true;
        m_folder.append_metrics(event_to_json(r));
        emit(r);
        emit(ErrorInfo{str_cat("the validation loss is NaN/Inf at step ", r.step,
                               ": the adapter diverged; nothing of this state was saved"),
                       "lower the learning rate, then resume from the last checkpoint: qlora train --resume RUN --lr X",
                       true});
        return r;
    }
    if (!m_progress.best_valid_loss || r.loss < *m_progress.best_valid_loss - m_config.early_stop_min_delta) {
        m_progress.best_valid_loss = r.loss;
        m_progress.best_step = r.step;
        m_progress.evals_without_improvement = 0;
        r.best = true;
    } else {
        ++m_progress.evals_without_improvement;
    }
    m_folder.append_metrics(event_to_json(r));
    emit(r);
    set_state(TrainerState::Training);
    return r;
}

void TrainingSession::save(bool final_save) {
    if (m_last_saved == m_progress.step) return;
    QLS_ASSERT(!m_diverged, "a diverged state must never be saved");
    const TrainerState before = m_trainer.state();  // Training, or Paused for a save while paused
    set_state(TrainerState::Saving, str_cat("saving checkpoint step-", m_progress.step));
    m_progress.elapsed_s = elapsed();
    Checkpoint c{m_lora->to_host(base_model_id(m_model.path)), m_optimizer->export_state(), m_progress};
    save_checkpoint(checkpoint_dir(m_config.run_dir, m_progress.step), c);
    m_last_saved = m_progress.step;
    prune_checkpoints();
    if (!final_save) set_state(before);
}

// Keeps the newest keep_checkpoints and the best one.
void TrainingSession::prune_checkpoints() {
    std::vector<std::int64_t> steps = list_checkpoints(m_config.run_dir);
    const auto keep = static_cast<std::size_t>(m_config.keep_checkpoints);
    for (std::size_t i = 0; i + keep < steps.size(); ++i) {
        if (m_progress.best_valid_loss && steps[i] == m_progress.best_step) continue;
        // Never half deleted: a kill midway leaves a hidden temporary that the next start removes
        // (remove_interrupted_saves), not a checkpoint missing files that a resume would find.
        remove_dir_atomic(checkpoint_dir(m_config.run_dir, steps[i]));
    }
}

// The final adapter: the best checkpoint's when early stopping chose one, else the last state.
void TrainingSession::export_adapter() {
    LoraAdapter adapter = m_lora->to_host(base_model_id(m_model.path));
    if (m_config.early_stop_patience > 0 && m_progress.best_valid_loss &&
        m_progress.best_step != m_progress.step &&
        std::filesystem::exists(checkpoint_dir(m_config.run_dir, m_progress.best_step)))
        adapter = read_peft_adapter(checkpoint_dir(m_config.run_dir, m_progress.best_step) / "adapter");
    ModelCard card;
    card.dataset = m_config.data.path.filename().string();
    card.steps = m_progress.step;
    card.train_loss = m_progress.last_train_loss;
    card.valid_loss = m_progress.best_valid_loss;
    card.learning_rate = m_config.optim.adamw.lr;
    card.batch_size = m_config.micro_batch * m_config.grad_accum;
    card.seq_len = static_cast<std::int64_t>(m_config.data.max_seq_len);
    card.quantization = base_quantization_label(m_config.base,
                                                kept_gguf_blocks(m_model.weights, m_model.config, m_config.base));
    write_peft_adapter(adapter, m_config.run_dir / "adapter", card);
}

void TrainingSession::run() {
    load();
    set_state(TrainerState::Training, str_cat(m_total_steps, " steps"));
    bool early_stopped = false;
    while (m_progress.step < m_total_steps) {
        if (!m_trainer.wait_if_paused(m_token, [this] { save(false); })) break;
        if (!train_step()) {
            set_state(TrainerState::Failed, "stopped: NaN/Inf");
            return;
        }
        const bool last = m_progress.step == m_total_steps;
        if (!m_eval_batches.empty() && m_config.eval_every > 0 && m_progress.step % m_config.eval_every == 0 && !last) {
            const EvalResult r = evaluate();
            if (m_diverged) {
                set_state(TrainerState::Failed, "stopped: NaN/Inf");
                return;
            }
            if (r.best && m_config.early_stop_patience > 0) save(false);
            if (m_config.early_stop_patience > 0 &&
                m_progress.evals_without_improvement >= m_config.early_stop_patience) {
                emit(LogLine{LogLine::Level::Info,
                             str_cat("early stopping: no improvement in ", m_config.early_stop_patience,
                                     " evaluations; best validation loss ", *m_progress.best_valid_loss, " at step ",
                                     m_progress.best_step)});
                early_stopped = true;
                break;
            }
        }
        if ((m_config.save_every > 0 && m_progress.step % m_config.save_every == 0 && !last) ||
            m_trainer.m_save.exchange(false))
            save(false);
    }
    if (m_token.stop_requested()) {
        set_state(TrainerState::Cancelled, str_cat("cancelled at step ", m_progress.step));
        return;
    }
    const bool finished = m_progress.step >= m_total_steps || early_stopped;
    if (finished && !m_eval_batches.empty() && !early_stopped) evaluate();
    if (m_diverged) {
        set_state(TrainerState::Failed, "stopped: NaN/Inf");
        return;
    }
    save(true);
    export_adapter();
    set_state(finished ? TrainerState::Finished : TrainerState::Stopped,
                        str_cat(finished ? "finished" : "stopped", " at step ", m_progress.step));
}

}  // namespace qls
