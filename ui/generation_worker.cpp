#include "ui/generation_worker.h"

#include <QMetaObject>

#include <chrono>

#include "core/export/peft_adapter.h"
#include "core/util/error.h"
#include "ui/run_adapter.h"

namespace qls::ui {

namespace {
constexpr auto kStatusInterval = std::chrono::milliseconds(100);

QString reasonName(StopReason r) {
    const std::string_view name = stop_reason_name(r);
    return QString::fromUtf8(name.data(), qsizetype(name.size()));
}
}  // namespace

GenerationWorker::GenerationWorker(QObject* parent) : QObject(parent) {
    qRegisterMetaType<GenerationStats>();
}

GenerationWorker::~GenerationWorker() {
    stop();
    for (auto& run : m_runs)
        if (run && run->thread.joinable()) run->thread.join();
}

bool GenerationWorker::start(std::shared_ptr<SharedModel> model, const BaseWeightsOptions& options,
                             const GenerationRequest& request, const std::optional<AdapterSource>& adapter) {
    if (isRunning() || !model) return false;
    if (m_model != model) {
        m_engines = {};
        m_model = std::move(model);
    }
    auto launch = [&](Side side, const GenerationPrompt& prompt, std::optional<AdapterSource> source) {
        m_runs[side] = std::make_unique<Run>();
        Run& run = *m_runs[side];
        ++m_active;
        // Joined in sideDone() or the destructor, so `this` outlives the thread.
        run.thread = std::jthread([this, side, &run, options, prompt, sampling = request.sampling,
                                   source = std::move(source)] { runSide(side, run, options, prompt, sampling, source); });
    };
    launch(Base, request.base, std::nullopt);
    if (adapter) launch(Adapter, request.adapter, adapter);
    return true;
}

void GenerationWorker::stop() {
    for (auto& run : m_runs)
        if (run) run->stop = true;
}

void GenerationWorker::runSide(Side side, Run& run, BaseWeightsOptions options, GenerationPrompt prompt,
                               SamplingOptions sampling, std::optional<AdapterSource> adapter) {
    GenerationStats stats;
    QString error;
    try {
        std::unique_ptr<GenerationEngine>& engine = m_engines[side];
        if (!engine || !engine->serves(m_model.get(), options)) {
            engine.reset();  // its base goes first, unless someone else reads it
            postStatus(side, tr("Loading the base weights…"));
            auto last = std::chrono::steady_clock::now();
            const ProgressFn progress = [this, side, &run, &last](std::size_t done, std::size_t total) {
                if (const auto now = std::chrono::steady_clock::now(); now - last >= kStatusInterval) {
                    last = now;
                    postStatus(side, tr("Loading the base weights… %1%").arg(total ? 100 * done / total : 0));
                }
                return !run.stop.load();
            };
            engine = std::make_unique<GenerationEngine>(m_model, options, progress);
        }
        std::optional<LoraAdapter> lora;
        if (adapter) {
            postStatus(side, tr("Reading the adapter…"));
            lora = loadAdapter(*adapter);
        }
        engine->setAdapter(lora ? &*lora : nullptr);
        postStatus(side, tr("Reading the prompt (%1 tokens)…").arg(prompt.ids.size()));
        std::size_t streamed = 0;  // bytes handed out piece by piece
        const GenerationResult result =
            engine->generate(prompt, sampling, [&](int, std::string_view piece) {
                streamed += piece.size();
                return onToken(side, run, piece);
            });
        {
            std::lock_guard lock(run.mutex);
            run.pending += result.text.substr(streamed);  // what the decoder held back to the end
        }
        stats.tokens = static_cast<int>(result.ids.size());
        stats.promptTokens = result.prompt_tokens;
        stats.prefillSeconds = result.prefill_seconds;
        stats.tokensPerSecond = result.tokens_per_second();
        stats.stopReason = reasonName(result.stop);
        stats.promptFormat = QString::fromStdString(prompt.format);
        stats.baseSharedWith = QString::fromStdString(engine->sharedWith());
    } catch (const Cancelled&) {
        stats.stopReason = reasonName(StopReason::Cancelled);
    } catch (const std::exception& e) {
        error = QString::fromStdString(e.what());
    }
    QMetaObject::invokeMethod(
        this,
        [this, side, stats, error] {
            flush(side);
            if (error.isEmpty()) emit sideFinished(side, stats);
            else emit sideFailed(side, error);
            sideDone(side);
        },
        Qt::QueuedConnection);
}

std::optional<LoraAdapter> GenerationWorker::loadAdapter(const AdapterSource& source) {
    RunAdapter where;
    if (source.kind == AdapterSource::Kind::PeftFolder) {
        where.dir = source.path;
        where.description = tr("adapter %1").arg(QString::fromStdString(source.path.filename().string()));
    } else {
        // The final adapter only when no checkpoint is left (a finished run keeps the last ones).
        std::optional<RunAdapter> latest = latestCheckpointAdapter(source.path);
        where = latest ? *latest : runAdapter(source.path);
    }
    LoraAdapter adapter = with_context("while reading the adapter in " + where.dir.string(),
                                       [&] { return read_peft_adapter(where.dir); });
    QMetaObject::invokeMethod(
        this, [this, d = where.description] { emit adapterResolved(d); }, Qt::QueuedConnection);
    return adapter;
}

bool GenerationWorker::onToken(Side side, Run& run, std::string_view piece) {
    bool post = false;
    {
        std::lock_guard lock(run.mutex);
        run.pending += piece;
        ++run.tokens;
        post = !run.flushQueued;
        run.flushQueued = true;
    }
    if (post) QMetaObject::invokeMethod(this, [this, side] { flush(side); }, Qt::QueuedConnection);
    return !run.stop.load();
}

void GenerationWorker::postStatus(Side side, const QString& status) {
    QMetaObject::invokeMethod(
        this, [this, side, status] { emit statusChanged(side, status); }, Qt::QueuedConnection);
}

void GenerationWorker::flush(Side side) {
    Run* run = m_runs[side].get();
    if (!run) return;
    std::string text;
    int tokens = 0;
    {
        std::lock_guard lock(run->mutex);
        text.swap(run->pending);
        tokens = run->tokens;
        run->flushQueued = false;
    }
    if (text.empty() && tokens == run->delivered) return;
    run->delivered = tokens;
    emit textStreamed(side, QString::fromStdString(text), tokens);
}

void GenerationWorker::sideDone(Side side) {
    // The thread posted this as its last act, so the join returns at once.
    if (m_runs[side]->thread.joinable()) m_runs[side]->thread.join();
    m_runs[side].reset();
    if (--m_active == 0) emit finished();
}

}  // namespace qls::ui
