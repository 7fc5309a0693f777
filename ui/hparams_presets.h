// Starting points for the Hyperparameters page: the QLoRA paper's settings (Dettmers et al.
// 2023, Table 9 / appendix B.2 for 7B-13B models) and, per card, the largest micro-batch and
// sequence length a 7B model in NF4 with gradient checkpointing leaves room for, topped up to an
// effective batch of 16 with gradient accumulation.
#pragma once
#include <QString>
#include <QStringList>

#include "core/train/train_config.h"

namespace qls::ui {

enum class Preset { QloraPaper, T4, L4, A100, H100 };
inline constexpr Preset kAllPresets[] = {Preset::QloraPaper, Preset::T4, Preset::L4, Preset::A100, Preset::H100};

QString presetName(Preset p);     // "QLoRA paper", "T4 16 GB", ...
QString presetSummary(Preset p);  // one line for the tooltip
// The preset's settings over `c`: LoRA, optimizer, batch, sequence length and the device size
// to rehearse; model, data and run folder stay.
void applyPreset(Preset p, TrainConfig& c);

}  // namespace qls::ui
