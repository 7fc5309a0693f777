// `qlora quantize` against transformers + bitsandbytes: quantizing the fp32 llama3-tiny model
// must give the checkpoints they saved (ref/bnb/llama3-tiny-nf4-dq, llama3-tiny-fp4; formats.md §3).
#include <QtTest>

#include <fstream>

#include "core/io/bnb_checkpoint.h"
#include "core/io/safetensors_checkpoint.h"
#include "core/io/safetensors_writer.h"
#include "core/model/hf_model_loader.h"
#include "core/quant/quantize_4bit.h"
#include "core/quant/quantize_checkpoint.h"
#include "core/util/error.h"
#include "tests/test_support.h"

using namespace qls;
namespace fs = std::filesystem;

namespace {

using test::read_bytes;

bool same_bytes(const TensorView& a, const TensorView& b) {
    return a.dtype == b.dtype && a.shape == b.shape && a.data.size() == b.data.size() &&
           std::equal(a.data.begin(), a.data.end(), b.data.begin());
}

bool ends_with(const std::string& s, std::string_view suffix) { return s.ends_with(suffix); }

}  // namespace

class TestQuantizeCheckpoint : public QObject {
    Q_OBJECT
private slots:
    void matchesTransformersCheckpoints_data() {
        QTest::addColumn<QString>("ref");
        QTest::addColumn<bool>("nf4");
        QTest::newRow("nf4-dq") << "llama3-tiny-nf4-dq" << true;
        QTest::newRow("fp4") << "llama3-tiny-fp4" << false;
    }
    void matchesTransformersCheckpoints() {
        QFETCH(QString, ref);
        QFETCH(bool, nf4);
        test::ScratchDir dir;
        const fs::path out = dir.path() / "q";
        QuantizeCheckpointOptions o;
        o.type = nf4 ? QuantType::NF4 : QuantType::FP4;
        o.double_quant = nf4;
        std::size_t calls = 0;
        const QuantizeSummary s = quantize_checkpoint(test::ref_dir() / "models/llama3-tiny", out, o,
                                                      [&](std::size_t done, std::size_t total) {
                                                          ++calls;
                                                          return done <= total;
                                                      });
        QVERIFY(!s.cancelled);
        QCOMPARE(s.quantized, std::size_t(21));
        QCOMPARE(calls, std::size_t(21));

        const fs::path want_dir = test::ref_dir() / "bnb" / ref.toStdString();
        for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"})
            QCOMPARE(read_bytes(out / f), read_bytes(want_dir / f));

        const SafetensorsFile got(out / "model.safetensors"), want(want_dir / "model.safetensors");
        QCOMPARE(got.metadata(), want.metadata());
        auto names = got.names(), want_names = want.names();
        QCOMPARE(names, want_names);  // same names in the same (dtype, name) order
        std::size_t nested_differences = 0;
        for (const auto& name : want_names) {
            const TensorView& a = got.tensor(name);
            const TensorView& b = want.tensor(name);
            QVERIFY(a.dtype == b.dtype);
            if (!ends_with(name, "__nf4")) QCOMPARE(a.shape, b.shape);  // the JSON's length varies with the offset
            if (same_bytes(a, b)) continue;
            // Double quant subtracts the mean of the absmax, a CUDA float reduction that is
            // not bit-reproducible (formats.md §2): only what depends on it may differ.
            const bool depends_on_mean =
                nf4 && (ends_with(name, ".absmax") || ends_with(name, ".nested_absmax") || ends_with(name, "__nf4"));
            if (!depends_on_mean) QFAIL(qPrintable(QString::fromStdString("differs: " + name)));
            ++nested_differences;
        }
        if (nf4) {
            // Given the checkpoint's own offset, every tensor of every weight comes out exact.
            const auto ckpt = SafetensorsCheckpoint::open(out);
            const auto ref_ckpt = SafetensorsCheckpoint::open(want_dir);
            const SafetensorsFile dense(test::ref_dir() / "models/llama3-tiny/model.safetensors");
            for (const auto& name : want_names) {
                const auto w = bnb_weight_of_quant_state(name);
                if (!w) continue;
                const Quantized4bit mine = read_bnb_weight(ckpt, *w), theirs = read_bnb_weight(ref_ckpt, *w);
                QCOMPARE(mine.packed, theirs.packed);
                const float gap = std::abs(mine.nested->offset - theirs.nested->offset);
                QVERIFY2(gap <= 4 * std::numeric_limits<float>::epsilon() * std::abs(theirs.nested->offset),
                         qPrintable(QString::fromStdString(*w)));
                QuantizeOptions with_offset;
                with_offset.offset = theirs.nested->offset;
                const auto again = quantize_4bit(dense.tensor(*w), QuantType::NF4, 64, true, with_offset);
                for (const auto& t : bnb_serialize(*w, again))
                    if (!same_bytes(t.view(), ref_ckpt.tensor(t.name))) QFAIL(qPrintable(QString::fromStdString(t.name)));
            }
            qInfo("nf4-dq: %zu of %zu tensors differ through the absmax mean", nested_differences, want_names.size());
        } else {
            QCOMPARE(read_bytes(out / "model.safetensors"), read_bytes(want_dir / "model.safetensors"));
        }
        const LoadedModel m = load_hf_model(out);
        QVERIFY(m.weights.format == ModelFormat::BnbPrequantized);
    }

    void quantizesBareFilesByRegex() {
        test::ScratchDir dir;
        const fs::path in = test::ref_dir() / "models/qwen2-tiny/model.safetensors";
        QuantizeCheckpointOptions o;
        o.type = QuantType::FP4;
        o.blocksize = 128;
        o.tensor_regex = R"(layers\.1\..*(q|k)_proj)";
        const QuantizeSummary s = quantize_checkpoint(in, dir.path() / "q", o);
        QCOMPARE(s.quantized, std::size_t(2));  // q_proj and k_proj weights; their biases are 1-D
        const auto ckpt = SafetensorsCheckpoint::open(dir.path() / "q/model.safetensors");
        QVERIFY(!fs::exists(dir.path() / "q/config.json"));
        const Quantized4bit q = read_bnb_weight(ckpt, "model.layers.1.self_attn.k_proj.weight");
        QCOMPARE(q.blocksize, 128);
        QCOMPARE(q.shape, (Shape{32, 64}));
        QVERIFY(ckpt.tensor("model.layers.0.self_attn.k_proj.weight").dtype == DType::F32);
        QVERIFY(ckpt.tensor("model.layers.1.self_attn.k_proj.bias").dtype == DType::F32);

        o.tensor_regex.reset();
        QCOMPARE(quantize_checkpoint(in, dir.path() / "all", o).quantized, std::size_t(2 * 7 + 2));  // + embed, lm_head
    }

    void cancelsAndRejects() {
        test::ScratchDir dir;
        const fs::path model = test::ref_dir() / "models/llama3-tiny";
        QuantizeCheckpointOptions o;
        const auto s = quantize_checkpoint(model, dir.path() / "q", o, [](std::size_t done, std::size_t) { return done < 3; });
        QVERIFY(s.cancelled);
        QVERIFY(!fs::exists(dir.path() / "q"));
        QCOMPARE(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), std::ptrdiff_t(0));

        QLS_VERIFY_THROWS_WITH(quantize_checkpoint(test::ref_dir() / "bnb/llama3-tiny-fp4", dir.path() / "x", o),
                               ConfigError, "already quantized");
        o.blocksize = 48;
        QLS_VERIFY_THROWS_WITH(quantize_checkpoint(model, dir.path() / "x", o), ConfigError, "48");
        o.blocksize = 64;
        o.tensor_regex = "(";
        QLS_VERIFY_THROWS_WITH(quantize_checkpoint(model, dir.path() / "x", o), ConfigError, "invalid tensor regex '('");
        // A pattern that selects nothing would write an unquantized copy and call it done.
        o.tensor_regex = "embed_tokens";  // not one of a model folder's linear weights
        QLS_VERIFY_THROWS_WITH(quantize_checkpoint(model, dir.path() / "x", o), ConfigError,
                               "--tensors 'embed_tokens' matches none of the quantizable tensors");
        QVERIFY(!fs::exists(dir.path() / "x"));
    }
};

QTEST_GUILESS_MAIN(TestQuantizeCheckpoint)
#include "test_quantize_checkpoint.moc"
