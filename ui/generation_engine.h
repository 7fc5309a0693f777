// One side of the playground's comparison: the base model with or without a LoRA adapter, ready
// to generate. The frozen base is read, not copied, when it is already on the device with the
// same settings: the training run's (so chatting with a live checkpoint costs only its LoRA
// tensors and a KV cache) or the other side's (shared_base.h). Each side still runs its ops on a
// backend of its own, so the sides and the training run never share scratch or streams and can
// run at once; a side that found no base loads one onto its backend and publishes it.
#pragma once
#include <memory>
#include <mutex>

#include "core/backend/backend_registry.h"
#include "core/model/device_base_model.h"
#include "core/model/llama_generator_generate.h"
#include "core/model/llama_generator_prompt.h"
#include "core/model/lora_parameters.h"
#include "core/model/shared_base.h"
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
    // Reads the base already published for this model, these options and the auto device, or
    // uploads (and quantizes, per `options`) one; progress counts tensors.
    GenerationEngine(std::shared_ptr<SharedModel> model, const BaseWeightsOptions& options,
                     const ProgressFn& progress);
    ~GenerationEngine();

    // Whether this engine is what a run with `model` and `options` should use: false too when
    // another base was published for its key since (a training run started), so that the caller
    // builds one that reads it and this engine's copy can go.
    bool serves(const SharedModel* model, const BaseWeightsOptions& options) const;
    // Replaces the adapter; nullptr generates with the base alone. ConfigError when the
    // adapter targets weights the model lacks or has other shapes.
    void setAdapter(const LoraAdapter* adapter);

    // Runs on the calling thread; see qls::generate for the callback and the errors.
    GenerationResult generate(const GenerationPrompt& prompt, const SamplingOptions& options,
                              const TokenCallback& onToken);

    // Where this engine's ops run (its accountant holds no base bytes unless it loaded them)
    // and the base it reads.
    Backend& backend() const { return m_backend; }
    const SharedBase& base() const { return *m_base; }
    // For whom the base this engine reads was loaded, when not for this engine ("the training
    // run in demo-run", "the Playground": the other side); empty when it loaded it.
    std::string sharedWith() const;

private:
    std::shared_ptr<SharedModel> m_model;
    BaseWeightsOptions m_options;
    BackendChoice m_reader;  // the registry's auto choice, unless the base was loaded onto it
    std::shared_ptr<SharedBase> m_base;
    Backend& m_backend;  // m_reader's, or the base's owner when this engine loaded the base
    std::unique_ptr<LoraParameters> m_lora;
};

}  // namespace qls::ui
