// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum TFRecord files carry
// (TensorBoard event files, core/train/tensorboard_writer.h). Check value:
// crc32c("123456789") = 0xE3069283.
#pragma once
#include <cstdint>
#include <string_view>

namespace qls {

// `crc` continues an earlier call over the bytes before `bytes`; 0 starts afresh.
std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);

// TFRecord stores CRCs rotated and offset, because a CRC over data that itself holds CRCs
// is weak (TensorFlow's record_writer).
constexpr std::uint32_t mask_crc32c(std::uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

}  // namespace qls
