#include "ui/generation_engine.h"

#include <algorithm>

#include "core/export/merged_weights.h"

namespace qls::ui {

const Tokenizer& SharedModel::tokenizer() {
    std::lock_guard lock(m_mutex);
    if (!m_tokenizer) m_tokenizer = std::make_unique<Tokenizer>(load_model_tokenizer(*m_model));
    return *m_tokenizer;
}

namespace {
// Chat runs in the device's preferred compute dtype (fp32 on the CPU).
BaseWeightsOptions with_compute(BaseWeightsOptions o, DType compute) {
    o.compute = compute;
    return o;
}
}  // namespace

GenerationEngine::GenerationEngine(std::shared_ptr<SharedModel> model, const BaseWeightsOptions& options,
                                   const ProgressFn& progress)
    : m_model(std::move(model)),
      m_options(options),
      m_reader(make_backend(DeviceSpec{})),
      m_base(acquire_shared_base(m_reader, "the Playground", m_model->model(),
                                 with_compute(options, m_reader.backend->preferred_compute_dtype()),
                                 progress)),
      m_backend(m_reader.backend ? *m_reader.backend : m_base->owner()) {}

GenerationEngine::~GenerationEngine() {
    m_lora.reset();
    // The other side may go on reading the base this engine loaded: not with this one's scratch.
    if (!m_reader.backend && m_base.use_count() > 1) {
        try {
            m_backend.release_op_scratch();
        } catch (const std::exception&) {
            // A failed device fails this too; the scratch then goes with the base.
        }
    }
}

std::string GenerationEngine::sharedWith() const {
    return &m_backend == &m_base->owner() ? std::string() : m_base->loaded_by();
}

bool GenerationEngine::serves(const SharedModel* model, const BaseWeightsOptions& options) const {
    if (model != m_model.get() || options.quant != m_options.quant ||
        options.double_quant != m_options.double_quant || options.blocksize != m_options.blocksize ||
        options.gguf_blocks != m_options.gguf_blocks)
        return false;
    const std::shared_ptr<SharedBase> published = find_shared_base(m_base->key());
    if (!published) {
        publish_shared_base(m_base);  // the run that had replaced it ended: others may read this one again
        return true;
    }
    return published == m_base;
}

void GenerationEngine::setAdapter(const LoraAdapter* adapter) {
    m_lora.reset();
    if (!adapter) return;
    check_adapter_fits(m_model->model(), *adapter);
    m_lora = LoraParameters::from_adapter(m_backend, m_base->base().config(), *adapter);
}

GenerationResult GenerationEngine::generate(const GenerationPrompt& prompt, const SamplingOptions& options,
                                            const TokenCallback& onToken) {
    // The cache holds exactly what this request can use; generate() names the limit when the
    // prompt and the token budget exceed the model's context.
    std::int64_t context = static_cast<std::int64_t>(prompt.ids.size()) + options.max_new_tokens;
    if (const std::int64_t limit = m_base->base().config().max_position_embeddings; limit > 0)
        context = std::min(context, limit);
    LlamaGenerator generator(m_backend, m_base->base(), m_lora.get(), context);
    return qls::generate(generator, m_model->tokenizer(), prompt.ids, options, prompt.stop_ids, onToken);
}

}  // namespace qls::ui
