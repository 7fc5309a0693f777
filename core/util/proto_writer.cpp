#include "core/util/proto_writer.h"

#include <bit>

namespace qls {

void append_varint(std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
        out += static_cast<char>((value & 0x7F) | 0x80);
        value >>= 7;
    }
    out += static_cast<char>(value);
}

void append_fixed(std::string& out, std::uint64_t bits, int size) {
    for (int i = 0; i < size; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);
}

void ProtoWriter::tag(int field, int wire_type) {
    append_varint(m_out, (static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint64_t>(wire_type));
}

void ProtoWriter::varint_field(int field, std::uint64_t value) {
    tag(field, 0);
    append_varint(m_out, value);
}

void ProtoWriter::double_field(int field, double value) {
    tag(field, 1);
    append_fixed(m_out, std::bit_cast<std::uint64_t>(value), 8);
}

void ProtoWriter::float_field(int field, float value) {
    tag(field, 5);
    append_fixed(m_out, std::bit_cast<std::uint32_t>(value), 4);
}

void ProtoWriter::bytes_field(int field, std::string_view bytes) {
    tag(field, 2);
    append_varint(m_out, bytes.size());
    m_out += bytes;
}

}  // namespace qls
