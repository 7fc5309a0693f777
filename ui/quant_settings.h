// The user's quantization choice and memory budget, kept in QSettings between sessions. They
// drive the Model page's memory table and the block size the inspector measures with.
#pragma once
#include <QString>

#include "core/inspect/weight_memory.h"
#include "core/model/device_base_model.h"
#include "core/quant/quantized_tensor.h"

namespace qls::ui {

struct QuantSettings {
    QuantType type = QuantType::NF4;
    bool doubleQuant = true;
    int blockSize = 64;                       // a power of two, 32..4096
    QString computeDtype = QStringLiteral("bf16");  // "bf16" or "fp16"
    double budgetGiB = 16.0;                  // used when no GPU is detected (or by choice)
    bool useDetectedGpu = true;
    // A GGUF base stored in Q4_0, Q4_K, Q8_0...: train on its own blocks rather than
    // re-quantizing them to `type` (BaseWeightsOptions::gguf_blocks).
    bool ggufBlocks = true;

    static QuantSettings load();  // clamps anything out of range back to the defaults
    void save() const;
    WeightScheme scheme() const;  // the memory-table row this choice corresponds to
    // The base a run, an estimate or the Playground gets from this choice (compute dtype: F32,
    // the caller resolves it against the backend).
    BaseWeightsOptions baseOptions() const;

    bool operator==(const QuantSettings&) const = default;
};

}  // namespace qls::ui
