// One side of the playground's comparison: the base model on its own backend, with or
// without a LoRA adapter, ready to generate. Each side owns a full copy of the base weights so
// that the two sides (and a training run in the same process) never share a backend's scratch
// and can run at once. On a GPU backend the frozen 4-bit base would be uploaded once and shared
// by every generator and the trainer: only the LoRA tensors differ between them.
#pragma once
#include <memory>
#include <mutex>

#include "core/backend/backend_registry.h"
#include "core/model/device_base_model.h"
#include "core/model/llama_generator_generate.h"
#include "core/model/llama_generator_prompt.h"
#include "core/model/lora_parameters.h"
#include "core/tokenizer/tokenizer.h"

namespace qls::ui {

// The model both sides read and its tokenizer, loaded once by whoever asks first (the page, to
// build the prompts, or a side, to decode).
class SharedModel {
public:
    explicit SharedModel(std::shared_ptr<const Model> model) : m_model(std::move(model)) {}
    const Model& model() const { return *m_model; }
    const std::shared_ptr<const Model>& modelPtr() const { return m_model; }
    const Tokenizer& tokenizer();  // any thread

private:
    std::shared_ptr<const Model> m_model;
    std::mutex m_mutex;
    std::unique_ptr<Tokenizer> m_tokenizer;  // guarded by m_mutex
};

class GenerationEngine {
public:
    // Uploads (and quantizes, per `options`) the base weights; progress counts tensors.
    GenerationEngine(std::shared_ptr<SharedModel> model, const BaseWeightsOptions& options,
                     const ProgressFn& progress);

    bool serves(const SharedModel* model, const BaseWeightsOptions& options) const;
    // Replaces the adapter; nullptr generates with the base alone. ConfigError when the
    // adapter targets weights the model lacks or has other shapes.
    void setAdapter(const LoraAdapter* adapter);

    // Runs on the calling thread; see qls::generate for the callback and the errors.
    GenerationResult generate(const GenerationPrompt& prompt, const SamplingOptions& options,
                              const TokenCallback& onToken);

private:
    std::shared_ptr<SharedModel> m_model;
    BaseWeightsOptions m_options;
    BackendChoice m_device;  // the registry's auto choice; declared before what lives on it
    Backend& m_backend;
    DeviceBaseModel m_base;
    std::unique_ptr<LoraParameters> m_lora;
};

}  // namespace qls::ui
