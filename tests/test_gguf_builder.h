// A minimal GGUF writer for test_gguf.cpp that can write wrong files on purpose: every count,
// length, type id and offset can be set to what a corrupt or hostile file would hold.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qls::test {

struct GgufBuilder {
    static constexpr std::uint32_t kString = 8, kArray = 9, kU32 = 4;

    struct Kv {
        std::string key;
        std::uint32_t type = kU32;
        std::uint32_t u32_value = 0;
        std::string string_value;
        std::vector<std::uint32_t> array;  // an ARRAY of UINT32, inside `nesting` arrays
        int nesting = 1;
        std::optional<std::uint64_t> key_length, string_length, array_count;  // overrides

        static Kv u32(std::string key, std::uint32_t v) { return {std::move(key), kU32, v, {}, {}, 1, {}, {}, {}}; }
        static Kv str(std::string key, std::string v) { return {std::move(key), kString, 0, std::move(v), {}, 1, {}, {}, {}}; }
        static Kv arr(std::string key, std::vector<std::uint32_t> v) { return {std::move(key), kArray, 0, {}, std::move(v), 1, {}, {}, {}}; }
    };
    struct Tensor {
        std::string name;
        std::vector<std::uint64_t> ne;
        std::uint32_t type;
        std::uint64_t offset;
    };

    std::uint32_t magic = 0x46554747;
    std::uint32_t version = 3;
    std::optional<std::uint64_t> tensor_count;
    std::vector<Kv> kvs;
    std::vector<Tensor> tensors;
    std::uint64_t alignment = 32;
    std::size_t data_size = 0;

    // Three keys and two tensors: 'a' F32 [2, 8] at 0 (64 bytes), 'b' Q8_0 [32] at 64 (34 bytes).
    static GgufBuilder valid() {
        GgufBuilder b;
        b.kvs = {Kv::str("general.architecture", "test"), Kv::str("test.str", "hello"), Kv::arr("test.arr", {1, 2, 3})};
        b.tensors = {{"a", {8, 2}, 0, 0}, {"b", {32}, 8, 64}};
        b.data_size = 64 + 34;
        return b;
    }

    Kv& kv(std::string_view key) {
        for (Kv& k : kvs)
            if (k.key == key) return k;
        throw std::logic_error("no such key");
    }

    std::vector<std::byte> build() const {
        std::vector<std::byte> out;
        auto put = [&](const auto& v) {
            const auto* p = reinterpret_cast<const std::byte*>(&v);
            out.insert(out.end(), p, p + sizeof v);
        };
        auto put_string = [&](std::string_view s, std::optional<std::uint64_t> length) {
            put(length.value_or(s.size()));
            const auto* p = reinterpret_cast<const std::byte*>(s.data());
            out.insert(out.end(), p, p + s.size());
        };
        put(magic);
        put(version);
        put(tensor_count.value_or(tensors.size()));
        put(std::uint64_t(kvs.size()));
        for (const Kv& k : kvs) {
            put_string(k.key, k.key_length);
            put(k.type);
            if (k.type == kArray) {
                for (int level = 1; level < k.nesting; ++level) {
                    put(kArray);
                    put(std::uint64_t(1));
                }
                put(kU32);
                put(k.array_count.value_or(k.array.size()));
                for (std::uint32_t v : k.array) put(v);
            } else if (k.type == kU32) {
                put(k.u32_value);
            } else {
                put_string(k.string_value, k.string_length);
            }
        }
        for (const Tensor& t : tensors) {
            put_string(t.name, std::nullopt);
            put(std::uint32_t(t.ne.size()));
            for (std::uint64_t n : t.ne) put(n);
            put(t.type);
            put(t.offset);
        }
        out.resize((out.size() + alignment - 1) / alignment * alignment);
        out.resize(out.size() + data_size, std::byte{0x3c});
        return out;
    }
};

}  // namespace qls::test
