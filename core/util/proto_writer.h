// The few pieces of the protobuf wire format our own files need (TensorBoard events,
// core/train/tensorboard_writer.h), so that no protobuf library is linked. Fields go out in
// the order written; a nested message is a length-delimited field holding another
// ProtoWriter's bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace qls {

// Base-128 varint, low group first; a negative int64 is written as its two's complement
// (ten bytes), as protobuf does for int64 fields.
void append_varint(std::string& out, std::uint64_t value);
// The low `size` bytes of `bits`, little-endian whatever the host: fixed32/fixed64 fields, and
// TFRecord's length and CRC words.
void append_fixed(std::string& out, std::uint64_t bits, int size);

class ProtoWriter {
public:
    void varint_field(int field, std::uint64_t value);    // int64, uint64, bool, enum
    void double_field(int field, double value);           // wire type 1: 8 bytes, little-endian
    void float_field(int field, float value);             // wire type 5: 4 bytes, little-endian
    void bytes_field(int field, std::string_view bytes);  // string, bytes or a nested message
    const std::string& bytes() const { return m_out; }

private:
    void tag(int field, int wire_type);
    std::string m_out;
};

}  // namespace qls
