#include "core/model/shared_base.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "core/quant/quantized_tensor.h"
#include "core/util/error.h"

namespace qls {

namespace {

// The files a model was read from, as a cheap identity: a base loaded from other bytes (the
// files replaced since) is another base. Hashing gigabytes to find out is what the training
// run's fingerprint does once; a lookup cannot afford it.
std::string model_identity(const std::filesystem::path& path) {
    std::error_code ec;
    const std::filesystem::path where = std::filesystem::weakly_canonical(path, ec);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(where, ec)) {
        for (const auto& e : std::filesystem::directory_iterator(where, ec))
            if (e.is_regular_file(ec)) files.push_back(e.path());
        std::sort(files.begin(), files.end());
    } else {
        files.push_back(where);
    }
    std::string id = (ec ? path : where).string();
    for (const auto& f : files) {
        const auto size = std::filesystem::file_size(f, ec);
        const auto time = std::filesystem::last_write_time(f, ec).time_since_epoch().count();
        id += str_cat("|", f.filename().string(), ":", ec ? 0 : size, ":", ec ? 0 : time);
    }
    return id;
}

struct Registry {
    std::mutex mutex;
    std::condition_variable loaded;
    std::map<SharedBaseKey, std::weak_ptr<SharedBase>> published;  // guarded by mutex
    std::set<SharedBaseKey> loading;                               // guarded by mutex

    // Under mutex: drops what nobody holds any more.
    void forget_expired() {
        std::erase_if(published, [](const auto& entry) { return entry.second.expired(); });
    }
};

Registry& registry() {
    static Registry r;
    return r;
}

}  // namespace

SharedBaseKey shared_base_key(const Model& model, const BaseWeightsOptions& options,
                              const std::string& device_id) {
    const std::string quant = options.quant ? std::string(quant_type_name(*options.quant)) : "none";
    return {model_identity(model.path),
            str_cat(quant, options.double_quant ? "+dq" : "", "/", options.blocksize, "/",
                    options.gguf_blocks ? "gguf-blocks" : "requantized", "/", dtype_name(options.compute)),
            device_id};
}

SharedBase::SharedBase(BackendChoice owner, std::string loaded_by, const Model& model,
                       const BaseWeightsOptions& options, const ProgressFn& progress)
    : m_owner(std::move(owner)),
      m_loaded_by(std::move(loaded_by)),
      m_key(shared_base_key(model, options, m_owner.id)) {
    QLS_ASSERT(m_owner.backend, "a shared base needs a backend to live on");
    m_base = std::make_unique<DeviceBaseModel>(*m_owner.backend, model, options, progress);
    // Readers run on other streams of the same device and must see every write of the load.
    m_owner.backend->synchronize();
}

void publish_shared_base(const std::shared_ptr<SharedBase>& base) {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    r.forget_expired();
    r.published[base->key()] = base;
}

std::shared_ptr<SharedBase> find_shared_base(const SharedBaseKey& key) {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    const auto it = r.published.find(key);
    return it == r.published.end() ? nullptr : it->second.lock();
}

std::shared_ptr<SharedBase> acquire_shared_base(BackendChoice& backend, const std::string& loaded_by,
                                                const Model& model, const BaseWeightsOptions& options,
                                                const ProgressFn& progress) {
    constexpr auto kPoll = std::chrono::milliseconds(50);
    const SharedBaseKey key = shared_base_key(model, options, backend.id);
    Registry& r = registry();
    std::unique_lock lock(r.mutex);
    for (;;) {
        if (const auto it = r.published.find(key); it != r.published.end())
            if (std::shared_ptr<SharedBase> base = it->second.lock()) return base;
        if (!r.loading.contains(key)) break;
        r.loaded.wait_for(lock, kPoll);
        lock.unlock();
        report_progress(progress, 0, 1);  // a wait the caller can cancel
        lock.lock();
    }
    r.loading.insert(key);
    lock.unlock();
    std::shared_ptr<SharedBase> base;
    try {
        base = std::make_shared<SharedBase>(std::move(backend), loaded_by, model, options, progress);
    } catch (...) {
        lock.lock();
        r.loading.erase(key);
        r.loaded.notify_all();
        throw;
    }
    lock.lock();
    r.forget_expired();
    r.published[key] = base;
    r.loading.erase(key);
    r.loaded.notify_all();
    return base;
}

}  // namespace qls
