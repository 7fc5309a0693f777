// safetensors reading, writing and validation (formats.md §7), sharded checkpoints (§6.2).
#include <QtTest>

#include <cstring>
#include <fstream>

#include "core/io/safetensors_checkpoint.h"
#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
#include "core/util/error.h"
#include "tests/test_support.h"

using namespace qls;
namespace fs = std::filesystem;

namespace {

using test::read_bytes;
using test::write_bytes;

std::string u64_le(std::uint64_t n) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
    return s;
}

// A file with the given header text and `data` bytes of zeros after it.
fs::path raw_file(const test::ScratchDir& dir, std::string_view header, std::size_t data, const char* name = "bad.safetensors") {
    const auto p = dir.path() / name;
    write_bytes(p, u64_le(header.size()) + std::string(header) + std::string(data, '\0'));
    return p;
}

std::vector<fs::path> fixture_files() {
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(test::ref_dir()))
        if (e.path().extension() == ".safetensors") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT
private slots:
    void readsTransformersFile() {
        const SafetensorsFile f(test::ref_dir() / "models/llama3-tiny/model.safetensors");
        QCOMPARE(f.metadata("format").value_or(""), std::string("pt"));
        QCOMPARE(f.tensors().size(), std::size_t(29));
        const TensorView& e = f.tensor("model.embed_tokens.weight");
        QVERIFY(e.dtype == DType::F32);
        QCOMPARE(e.shape, (Shape{1024, 96}));
        // Written by the Rust writer: F32 only, so sorted by name, embed_tokens first at offset 0
        // right after the 3024-byte header.
        QCOMPARE(e.data.data() - f.file()->bytes().data(), std::ptrdiff_t(8 + 3024));
        QCOMPARE(f.tensor("model.layers.0.self_attn.k_proj.weight").shape, (Shape{32, 96}));
        QVERIFY(!f.contains("lm_head.weight"));
        QLS_VERIFY_THROWS_WITH(f.tensor("lm_head.weight"), FormatError, "lm_head.weight");
    }

    // Every fixture file written by safetensors' Rust writer (through torch save_file) comes
    // out byte for byte the same when its tensors are written again. quantize_cases was
    // trimmed afterwards by a writer that orders tensors by name alone (U8 before F32).
    void rewriteIsByteIdentical() {
        test::ScratchDir dir;
        const auto files = fixture_files();
        QVERIFY(files.size() >= 20);
        for (const auto& path : files) {
            if (path.filename() == "quantize_cases.safetensors") continue;
            const SafetensorsFile f(path);
            const auto out = dir.path() / "copy.safetensors";
            write_safetensors_ordered(out, f.tensors(), f.metadata());
            if (read_bytes(out) != read_bytes(path)) QFAIL(qPrintable(QString::fromStdString(path.string())));
            QCOMPARE(serialize_safetensors(f.tensors(), f.metadata()), read_bytes(path));
        }
    }

    // The byte strings of safetensors' own tests (tensor.rs test_serialization, test_empty).
    void matchesRustSerializerTests() {
        std::vector<float> v = {0, 1, 2, 3, 4, 5};
        const TensorView t{DType::F32, {1, 2, 3}, std::as_bytes(std::span(v))};
        const std::string out = serialize_safetensors({{"attn.0", t}}, {});
        const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
        QCOMPARE(out.substr(0, 8), u64_le(64));
        QCOMPARE(out.substr(8, 64), header);  // 64 bytes: no padding needed
        QCOMPARE(out.size(), std::size_t(8 + 64 + 24));

        QCOMPARE(serialize_safetensors({}, {}), u64_le(8) + "{}      ");
        QCOMPARE(serialize_safetensors({}, {{"framework", "pt"}}),
                 u64_le(40) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
    }

    void ordersByDtypeDescendingThenName() {
        const std::vector<std::byte> b(64);
        auto view = [&](DType d, std::int64_t n) {
            return TensorView{d, {n}, std::span(b).first(std::size_t(n) * dtype_size(d))};
        };
        const std::vector<NamedTensor> in = {
            {"z", view(DType::U8, 3)},   {"b", view(DType::F32, 2)}, {"a", view(DType::F32, 1)},
            {"c", view(DType::BF16, 1)}, {"i", view(DType::I64, 1)}, {"u", view(DType::U64, 1)},
            {"f", view(DType::F64, 1)},  {"h", view(DType::F16, 1)}, {"bo", view(DType::BOOL, 2)},
            {"i8", view(DType::I8, 1)},  {"i16", view(DType::I16, 1)}, {"u16", view(DType::U16, 1)},
            {"i32", view(DType::I32, 1)}, {"u32", view(DType::U32, 1)}};
        const std::string image = serialize_safetensors(in, {});
        const auto layout = parse_safetensors(std::as_bytes(std::span(image)), "mem");
        std::vector<std::string> names;
        for (std::size_t i = 0; i < layout.tensors.size(); ++i) {
            names.push_back(layout.tensors[i].name);
            if (i) QVERIFY(layout.tensors[i].view.data.data() >= layout.tensors[i - 1].view.data.data());
        }
        // Rust enum order, largest first: U64 I64 F64 F32 U32 I32 BF16 F16 U16 I16 I8 U8 BOOL.
        QCOMPARE(names, (std::vector<std::string>{"u", "i", "f", "a", "b", "u32", "i32", "c", "h", "u16",
                                                  "i16", "i8", "z", "bo"}));
    }

    void roundTripsEveryDtypeAndOddShapes() {
        test::ScratchDir dir;
        std::vector<OwnedTensor> owned;
        int k = 0;
        for (DType d : {DType::BOOL, DType::U8, DType::I8, DType::I16, DType::U16, DType::F16, DType::BF16,
                        DType::I32, DType::U32, DType::F32, DType::F64, DType::I64, DType::U64}) {
            for (const Shape& s : {Shape{}, Shape{0, 3}, Shape{2, 3}, Shape{5}}) {
                OwnedTensor t{"t" + std::to_string(k++) + ".\"quoted\\\n", d, s, {}};
                t.data.resize(std::size_t(numel(s)) * dtype_size(d));
                for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] = std::byte(i * 7 + k);
                owned.push_back(std::move(t));
            }
        }
        const auto path = dir.path() / "all.safetensors";
        write_safetensors(path, named_views(owned), {{"b", "2"}, {"a", "1 é"}});
        const SafetensorsFile f(path);
        QCOMPARE(f.metadata(), (SafetensorsMetadata{{"a", "1 é"}, {"b", "2"}}));
        QCOMPARE(f.tensors().size(), owned.size());
        for (const auto& t : owned) {
            const TensorView& v = f.tensor(t.name);
            QVERIFY(v.dtype == t.dtype);
            QCOMPARE(v.shape, t.shape);
            QVERIFY(v.data.size() == t.data.size() && std::equal(v.data.begin(), v.data.end(), t.data.begin()));
            QCOMPARE(reinterpret_cast<std::uintptr_t>(v.data.data()) % dtype_size(v.dtype), std::uintptr_t(0));
        }
        const std::string img = read_bytes(path);
        std::uint64_t n = 0;
        std::memcpy(&n, img.data(), 8);
        QCOMPARE(n % 8, std::uint64_t(0));
    }

    void rejectsMalformedFiles() {
        test::ScratchDir dir;
        const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        QVERIFY(SafetensorsFile(raw_file(dir, ok, 8, "ok.safetensors")).contains("w"));

        auto expect = [&](std::string_view header, std::size_t data, const char* needle) {
            const auto p = raw_file(dir, header, data);
            QLS_VERIFY_THROWS_WITH(SafetensorsFile{p}, FormatError, needle);
            QLS_VERIFY_THROWS_WITH(SafetensorsFile{p}, FormatError, p.string().c_str());
        };
        expect(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "'w': data_offsets [0, 8] go beyond");
        expect(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "'w': data_offsets [8, 0]: begin is after end");
        expect(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               8, "data_offsets [4, 8] overlap tensor 'w'");
        expect(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"v":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
               12, "tensor 'v': data_offsets [8, 12] leave a hole of 4 bytes after tensor 'w'");
        expect(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "tensor 'w': data_offsets [4, 8] leave a hole");
        expect(ok, 12, "the tensors cover 8 bytes of a data buffer of 12 bytes");
        expect(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8, "tensor 'w': unknown dtype 'Q4'");
        expect(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2, "tensor 'w': unsupported dtype 'F8_E4M3'");
        expect(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "tensor 'w': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12");
        expect(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "tensor 'w': field 'shape': element 0 is -2");
        expect(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8, "tensor 'w': field 'shape': element 0 is 2.5");
        expect(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8,
               "tensor 'w': field 'shape': element count overflows");
        expect(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8,
               "tensor 'w': byte size overflows");
        expect(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, "tensor 'w': field 'data_offsets' is not a [begin, end] pair");
        expect(R"({"w":{"dtype":"F32","shape":[2]}})", 8, "tensor 'w': missing field 'data_offsets'");
        expect(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
               16, "duplicate key 'w'");
        expect(R"({"__metadata__":{"a":1},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8,
               "'__metadata__' field 'a' is not a string");
        expect(R"( {"w":{}})", 0, "header does not start with '{'");
        expect(R"({"w":{"dtype":"F32",)", 0, "header is not valid JSON");
        expect(R"({"w":[[[[1]]]]})", 0, "nests deeper");
        expect(R"({"w":5})", 0, "tensor 'w': expected an object");

        const auto trunc = dir.path() / "trunc.safetensors";
        write_bytes(trunc, "\x10\0\0");
        QLS_VERIFY_THROWS_WITH(SafetensorsFile{trunc}, FormatError, "too short");
        write_bytes(trunc, u64_le(1000) + ok);
        QLS_VERIFY_THROWS_WITH(SafetensorsFile{trunc}, FormatError, "header length 1000 goes beyond the end of the file");
        write_bytes(trunc, u64_le(100'000'001) + ok);
        QLS_VERIFY_THROWS_WITH(SafetensorsFile{trunc}, FormatError, "exceeds the limit of 100000000 bytes");
        // A real file cut short: its last tensor no longer fits.
        const std::string real = read_bytes(test::ref_dir() / "models/qwen2-tiny/model.safetensors");
        write_bytes(trunc, std::string_view(real).substr(0, real.size() - 1));
        QLS_VERIFY_THROWS_WITH(SafetensorsFile{trunc}, FormatError, "go beyond the data buffer");
        QLS_VERIFY_THROWS_WITH(SafetensorsFile{dir.path() / "absent.safetensors"}, IoError, "absent.safetensors");
    }

    void readsShardedCheckpoint() {
        const auto ckpt = SafetensorsCheckpoint::open(test::ref_dir() / "models/llama3-tiny-bf16-sharded");
        QVERIFY(ckpt.sharded());
        QCOMPARE(ckpt.shards().size(), std::size_t(4));
        QCOMPARE(ckpt.names().size(), std::size_t(29));
        QCOMPARE(ckpt.file_of("model.norm.weight").filename().string(), std::string("model-00004-of-00004.safetensors"));
        QVERIFY(ckpt.tensor("model.layers.2.mlp.up_proj.weight").dtype == DType::BF16);
        const auto single = SafetensorsCheckpoint::open(test::ref_dir() / "models/qwen2-tiny");
        QVERIFY(!single.sharded());
        QVERIFY(single.contains("model.layers.0.self_attn.q_proj.bias"));
    }

    void rejectsBrokenShards() {
        const fs::path src = test::ref_dir() / "models/llama3-tiny-bf16-sharded";
        auto copy = [&](const test::ScratchDir& dir) {
            for (const auto& e : fs::directory_iterator(src))
                if (e.path().extension() == ".safetensors" || e.path().extension() == ".json")
                    fs::copy_file(e.path(), dir.path() / e.path().filename());
        };
        const std::string index = read_bytes(src / "model.safetensors.index.json");
        auto replaced = [&](std::string from, std::string to) {
            std::string s = index;
            const auto at = s.find(from);
            return s.replace(at, from.size(), to);
        };
        {
            test::ScratchDir dir;
            copy(dir);
            fs::remove(dir.path() / "model-00003-of-00004.safetensors");
            QLS_VERIFY_THROWS_WITH(SafetensorsCheckpoint::open(dir.path()), FormatError,
                                   "shard file 'model-00003-of-00004.safetensors' is missing");
        }
        {
            test::ScratchDir dir;
            copy(dir);
            write_bytes(dir.path() / "model.safetensors.index.json",
                        replaced("\"model.norm.weight\": \"model-00004-of-00004", "\"model.norm.weight\": \"model-00001-of-00004"));
            QLS_VERIFY_THROWS_WITH(SafetensorsCheckpoint::open(dir.path()), FormatError,
                                   "tensor 'model.norm.weight' is listed in shard 'model-00001-of-00004.safetensors' but absent");
        }
        {
            test::ScratchDir dir;
            copy(dir);
            // Shard 1 written again with a tensor that shard 4 also holds.
            const SafetensorsFile s1(src / "model-00001-of-00004.safetensors"), s4(src / "model-00004-of-00004.safetensors");
            auto tensors = s1.tensors();
            tensors.push_back({"model.norm.weight", s4.tensor("model.norm.weight")});
            write_safetensors(dir.path() / "model-00001-of-00004.safetensors", tensors, {{"format", "pt"}});
            QLS_VERIFY_THROWS_WITH(SafetensorsCheckpoint::open(dir.path()), FormatError,
                                   "tensor 'model.norm.weight' is in both 'model-00001-of-00004.safetensors' and "
                                   "'model-00004-of-00004.safetensors'");
        }
        {
            test::ScratchDir dir;
            copy(dir);
            write_bytes(dir.path() / "model.safetensors.index.json",
                        replaced("\"model-00004-of-00004.safetensors\"", "\"../model-00004-of-00004.safetensors\""));
            QLS_VERIFY_THROWS_WITH(SafetensorsCheckpoint::open(dir.path()), FormatError, "invalid shard file name");
        }
        {
            test::ScratchDir dir;
            QLS_VERIFY_THROWS_WITH(SafetensorsCheckpoint::open(dir.path()), FormatError, "no model.safetensors");
        }
    }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
