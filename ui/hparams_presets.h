// Starting points for the Hyperparameters page: the QLoRA paper's settings (Dettmers et al.
// 2023, Table 9 / appendix B.2 for 7B-13B models) and, per card, the largest micro-batch and
// sequence length a 7B model in NF4 with gradient checkpointing leaves room for, topped up to an
// effective batch of 16 with gradient accumulation. A card's preset is usable only on a machine
// that has such a card (it then trains on it); the CPU preset trains on the CPU.
#pragma once
#include <QString>
#include <QStringList>
#include <string>
#include <vector>

#include "core/backend/backend_registry.h"
#include "core/train/train_config.h"

namespace qls::ui {

enum class Preset { QloraPaper, T4, L4, A100, H100, Cpu };
inline constexpr Preset kAllPresets[] = {Preset::QloraPaper, Preset::T4, Preset::L4,
                                         Preset::A100,       Preset::H100, Preset::Cpu};

QString presetName(Preset p);     // "QLoRA paper", "T4 16 GB", ..., "This CPU"
QString presetSummary(Preset p);  // one line for the tooltip
bool presetNamesACard(Preset p);  // T4 ... H100
// The device a card's preset trains on: the first of `devices` (device_options()) of that kind
// ("cuda:0"), or "" when the machine has none (and for presets that name no card).
std::string presetDevice(Preset p, const std::vector<DeviceOption>& devices);
// The preset's settings over `c`: LoRA, optimizer, batch, sequence length, the device to train
// on (`device`, when not empty; the CPU preset's is "cpu") and the device size to check memory
// against; model, data and run folder stay.
void applyPreset(Preset p, TrainConfig& c, const std::string& device = {});

}  // namespace qls::ui
