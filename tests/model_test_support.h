// Shared by the model and training tests: the reference fixtures as Batches and LoRA views.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <filesystem>
#include <memory>

#include "core/backend/cpu/cpu_backend.h"
#include "core/data/batch.h"
#include "core/model/device_base_model.h"
#include "core/model/model_loader.h"
#include "core/io/safetensors_reader.h"
#include "core/util/tensor_view.h"

namespace qls::test {

// A model folder loaded onto a CPU backend (dense base unless told otherwise).
struct Loaded {
    CpuBackend backend;
    Model model;
    std::unique_ptr<DeviceBaseModel> base;
    explicit Loaded(const std::filesystem::path& dir, BaseWeightsOptions opt = {std::nullopt})
        : model(load_model(dir)) {
        base = std::make_unique<DeviceBaseModel>(backend, model, opt);
    }
};


// input_ids (B, T) I64 with HF's labels (same shape, -100 = ignored): the shift happens here,
// as transformers' ForCausalLMLoss does it.
inline Batch batch_from_ids(const TensorView& ids, const TensorView* labels = nullptr) {
    Batch b;
    b.batch = ids.shape.at(0);
    b.seq_len = ids.shape.at(1);
    auto id = ids.as<std::int64_t>();
    for (std::int64_t r = 0; r < b.batch; ++r)
        for (std::int64_t t = 0; t < b.seq_len; ++t) {
            const std::size_t i = static_cast<std::size_t>(r * b.seq_len + t);
            b.tokens.push_back(static_cast<std::int32_t>(id[i]));
            std::int32_t target = kIgnoreIndex;
            if (t + 1 < b.seq_len) {
                const std::int64_t next = labels ? labels->as<std::int64_t>()[i + 1] : id[i + 1];
                if (next != -100) target = static_cast<std::int32_t>(next);
            }
            b.targets.push_back(target);
            b.positions.push_back(static_cast<std::int32_t>(t));
            b.segments.push_back(0);
        }
    return b;
}

// max |a - b| / max |b|
inline double relative_error(const std::vector<float>& a, std::span<const float> b) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return scale > 0 ? diff / scale : diff;
}

}  // namespace qls::test
