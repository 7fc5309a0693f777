#include "ui/hparams_presets.h"

#include <QObject>
#include <QRegularExpression>

namespace qls::ui {

namespace {

constexpr std::int64_t kGiB = std::int64_t(1) << 30;

struct Card {
    std::int64_t microBatch, gradAccum, seqLen, rank, memoryGiB;
};

Card cardOf(Preset p) {
    switch (p) {
    case Preset::T4: return {1, 16, 1024, 16, 16};
    case Preset::L4: return {2, 8, 2048, 16, 24};
    case Preset::A100: return {4, 4, 2048, 32, 40};
    case Preset::H100: return {8, 2, 2048, 64, 80};
    // A CPU trains a few hundred tokens a second: short rows, a small batch, no memory cap.
    case Preset::Cpu: return {2, 8, 512, 16, 0};
    case Preset::QloraPaper: break;
    }
    return {16, 1, 512, 64, 0};
}

// The GPU names a card's preset stands for, as whole words ("L4" is not "L40S"); an H200 has
// at least an H100's memory and speed.
QRegularExpression cardPattern(Preset p) {
    switch (p) {
    case Preset::T4: return QRegularExpression(QStringLiteral("\\bT4\\b"));
    case Preset::L4: return QRegularExpression(QStringLiteral("\\bL4\\b"));
    case Preset::A100: return QRegularExpression(QStringLiteral("\\bA100\\b"));
    case Preset::H100: return QRegularExpression(QStringLiteral("\\bG?H(100|200)\\b"));
    case Preset::QloraPaper:
    case Preset::Cpu: break;
    }
    return {};
}

}  // namespace

bool presetNamesACard(Preset p) { return p != Preset::QloraPaper && p != Preset::Cpu; }

std::string presetDevice(Preset p, const std::vector<DeviceOption>& devices) {
    if (!presetNamesACard(p)) return {};
    const QRegularExpression card = cardPattern(p);
    for (const DeviceOption& d : devices)
        if (d.spec.rfind("cuda:", 0) == 0 && card.match(QString::fromStdString(d.label)).hasMatch()) return d.spec;
    return {};
}

QString presetName(Preset p) {
    switch (p) {
    case Preset::QloraPaper: return QObject::tr("QLoRA paper");
    case Preset::T4: return QObject::tr("T4 16 GB");
    case Preset::L4: return QObject::tr("L4 24 GB");
    case Preset::A100: return QObject::tr("A100 40 GB");
    case Preset::H100: return QObject::tr("H100 80 GB");
    case Preset::Cpu: return QObject::tr("This CPU");
    }
    return {};
}

QString presetSummary(Preset p) {
    if (p == Preset::QloraPaper)
        return QObject::tr("r 64, alpha 16, dropout 0.1, lr 2e-4 constant with 3% warm-up, batch 16, "
                           "sequence 512, max grad norm 0.3, paged AdamW");
    const Card c = cardOf(p);
    if (p == Preset::Cpu)
        return QObject::tr("trains on the CPU: micro-batch %1 × %2 accumulation, sequence %3, r %4")
            .arg(c.microBatch)
            .arg(c.gradAccum)
            .arg(c.seqLen)
            .arg(c.rank);
    return QObject::tr("trains on the card: micro-batch %1 × %2 accumulation, sequence %3, r %4; memory checked "
                       "against %5 GiB")
        .arg(c.microBatch)
        .arg(c.gradAccum)
        .arg(c.seqLen)
        .arg(c.rank)
        .arg(c.memoryGiB);
}

void applyPreset(Preset p, TrainConfig& c, const std::string& device) {
    const Card card = cardOf(p);
    c.lora.rank = card.rank;
    c.lora.alpha = p == Preset::QloraPaper ? 16.0 : 2.0 * double(card.rank);
    c.lora.dropout = p == Preset::QloraPaper ? 0.1 : 0.05;
    c.lora.rslora = false;
    c.lora.targets.assign(kAllLoraTargets.begin(), kAllLoraTargets.end());
    c.optim.adamw = AdamWConfig{};  // lr 2e-4, betas 0.9 / 0.999, no decay, max grad norm 0.3
    c.optim.schedule = LrScheduleConfig{LrScheduleType::Constant, 0, 0.03};
    c.optim.paging.device_budget_bytes = 0;
    c.micro_batch = card.microBatch;
    c.grad_accum = card.gradAccum;
    c.data.max_seq_len = std::size_t(card.seqLen);
    c.checkpointing = true;
    c.device_limit_bytes = card.memoryGiB * kGiB;
    if (p == Preset::Cpu) c.device = "cpu";
    if (!device.empty()) c.device = device;
}

}  // namespace qls::ui
