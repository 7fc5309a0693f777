// One frozen base on a device for everyone in the process who reads it. The training run loads
// its base on its own backend and publishes it; the studio's Playground, asking for the same
// model with the same settings on the same device, generates from those weights with a backend
// of its own (its own streams, scratch and KV cache) instead of loading a second copy, and its
// two sides share one copy the same way. The base is never written after loading, so a reader
// on another backend of the same device only needs the load to have finished, which the
// constructor waits for. Whoever holds the last reference frees the base, and the backend it
// was allocated on, which therefore lives inside it.
#pragma once
#include <compare>
#include <memory>
#include <string>

#include "core/backend/backend_registry.h"
#include "core/model/device_base_model.h"

namespace qls {

// Which base: the model's files (path, each file's size and write time), the settings it is held
// in (quantization, blocks, compute dtype) and the device it lives on.
struct SharedBaseKey {
    std::string model, options, device;
    auto operator<=>(const SharedBaseKey&) const = default;
};
SharedBaseKey shared_base_key(const Model& model, const BaseWeightsOptions& options,
                              const std::string& device_id);

class SharedBase {
public:
    // Loads `model` onto `owner` (which it keeps) and waits until the weights are on the device.
    // `loaded_by` says for whom, to the others who read it ("the training run in demo-run").
    SharedBase(BackendChoice owner, std::string loaded_by, const Model& model,
               const BaseWeightsOptions& options, const ProgressFn& progress = {});
    SharedBase(const SharedBase&) = delete;
    SharedBase& operator=(const SharedBase&) = delete;

    // The backend the weights were allocated on, which accounts them as BaseWeights. Only the
    // one who loaded the base runs ops on it; other readers bring their own backend.
    Backend& owner() const { return *m_owner.backend; }
    const DeviceBaseModel& base() const { return *m_base; }
    const SharedBaseKey& key() const { return m_key; }
    const std::string& loaded_by() const { return m_loaded_by; }

private:
    BackendChoice m_owner;  // before the weights that live on it
    std::string m_loaded_by;
    SharedBaseKey m_key;
    std::unique_ptr<DeviceBaseModel> m_base;
};

// Makes `base` the one find_shared_base and acquire_shared_base give for its key from now on,
// for as long as anyone holds it (the registry keeps no reference).
void publish_shared_base(const std::shared_ptr<SharedBase>& base);
// The published base for `key`, or nullptr.
std::shared_ptr<SharedBase> find_shared_base(const SharedBaseKey& key);

// The published base for `model` under `options` on `backend`'s device; when there is none, a
// base loaded on `backend`, which it then takes (backend.backend is null after, even when the
// load fails), published. One load per key at a time: a second caller waits for the first one's,
// polling `progress` so it can be cancelled, and shares it (or loads itself when that failed).
std::shared_ptr<SharedBase> acquire_shared_base(BackendChoice& backend, const std::string& loaded_by,
                                                const Model& model, const BaseWeightsOptions& options,
                                                const ProgressFn& progress);

}  // namespace qls
