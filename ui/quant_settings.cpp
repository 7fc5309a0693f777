#include "ui/quant_settings.h"

#include <QSettings>

#include <bit>

namespace qls::ui {

QuantSettings QuantSettings::load() {
    const QSettings s;
    QuantSettings q;
    q.type = s.value("quant/type", "nf4").toString() == "fp4" ? QuantType::FP4 : QuantType::NF4;
    q.doubleQuant = s.value("quant/doubleQuant", q.doubleQuant).toBool();
    const int bs = s.value("quant/blockSize", q.blockSize).toInt();
    if (bs >= 32 && bs <= 4096 && std::has_single_bit(unsigned(bs))) q.blockSize = bs;
    const QString dtype = s.value("quant/computeDtype", q.computeDtype).toString();
    if (dtype == "bf16" || dtype == "fp16") q.computeDtype = dtype;
    const double budget = s.value("memory/budgetGiB", q.budgetGiB).toDouble();
    if (budget > 0.0 && budget <= 4096.0) q.budgetGiB = budget;
    q.useDetectedGpu = s.value("memory/useDetectedGpu", q.useDetectedGpu).toBool();
    q.ggufBlocks = s.value("quant/ggufBlocks", q.ggufBlocks).toBool();
    return q;
}

void QuantSettings::save() const {
    QSettings s;
    s.setValue("quant/type", type == QuantType::FP4 ? "fp4" : "nf4");
    s.setValue("quant/doubleQuant", doubleQuant);
    s.setValue("quant/blockSize", blockSize);
    s.setValue("quant/computeDtype", computeDtype);
    s.setValue("memory/budgetGiB", budgetGiB);
    s.setValue("memory/useDetectedGpu", useDetectedGpu);
    s.setValue("quant/ggufBlocks", ggufBlocks);
}

BaseWeightsOptions QuantSettings::baseOptions() const {
    BaseWeightsOptions o;
    o.quant = type;
    o.double_quant = doubleQuant;
    o.blocksize = blockSize;
    o.gguf_blocks = ggufBlocks;
    return o;
}

WeightScheme QuantSettings::scheme() const {
    if (type == QuantType::FP4) return WeightScheme::Fp4;
    return doubleQuant ? WeightScheme::Nf4DoubleQuant : WeightScheme::Nf4;
}

}  // namespace qls::ui
