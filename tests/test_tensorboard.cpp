// TensorBoard event files: CRC-32C, the protobuf encoder, the TFRecord file read back by a
// small independent reader, and a real run whose event file says what metrics.jsonl says.
// tests/tools/check_tensorboard.py checks the same files with tensorboard's own reader.
#include <QtTest>
#include <algorithm>
#include <bit>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <tuple>

#include "core/train/tensorboard_log.h"
#include "core/train/tensorboard_writer.h"
#include "core/train/trainer.h"
#include "core/util/crc32c.h"
#include "core/util/proto_writer.h"
#include "core/util/resource_paths.h"
#include "tests/test_support.h"

using namespace qls;
using qls::test::ScratchDir;

namespace {

std::string hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::uint64_t read_le(std::string_view bytes) {
    std::uint64_t v = 0;
    for (std::size_t i = bytes.size(); i-- > 0;) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
    return v;
}

// One protobuf field as read back: varints in `number`, everything else as its raw bytes.
struct Field {
    int tag = 0, wire = 0;
    std::uint64_t number = 0;
    std::string bytes;
};

std::uint64_t read_varint(std::string_view data, std::size_t& pos) {
    std::uint64_t v = 0;
    for (int shift = 0; pos < data.size(); shift += 7) {
        const auto b = static_cast<unsigned char>(data[pos++]);
        v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
        if (!(b & 0x80)) return v;
    }
    throw FormatError("varint runs past the message");
}

std::vector<Field> parse_message(std::string_view data) {
    std::vector<Field> fields;
    for (std::size_t pos = 0; pos < data.size();) {
        const std::uint64_t key = read_varint(data, pos);
        Field f;
        f.tag = static_cast<int>(key >> 3);
        f.wire = static_cast<int>(key & 7);
        std::size_t size = 0;
        if (f.wire == 0)
            f.number = read_varint(data, pos);
        else if (f.wire == 1)
            size = 8;
        else if (f.wire == 5)
            size = 4;
        else if (f.wire == 2)
            size = read_varint(data, pos);
        else
            throw FormatError("unexpected wire type " + std::to_string(f.wire));
        if (pos + size > data.size()) throw FormatError("field runs past the message");
        f.bytes = std::string(data.substr(pos, size));
        pos += size;
        fields.push_back(std::move(f));
    }
    return fields;
}

// tensorflow.Event as far as we write it.
struct TfEvent {
    double wall_time = 0;
    std::int64_t step = 0;
    std::string file_version, tag;
    std::optional<float> value;
};

TfEvent decode_event(std::string_view data) {
    TfEvent e;
    for (const Field& f : parse_message(data)) {
        if (f.tag == 1 && f.wire == 1)
            e.wall_time = std::bit_cast<double>(read_le(f.bytes));
        else if (f.tag == 2 && f.wire == 0)
            e.step = static_cast<std::int64_t>(f.number);
        else if (f.tag == 3 && f.wire == 2)
            e.file_version = f.bytes;
        else if (f.tag == 5 && f.wire == 2) {
            const std::vector<Field> summary = parse_message(f.bytes);
            if (summary.size() != 1 || summary[0].tag != 1) throw FormatError("expected one Summary.value");
            for (const Field& v : parse_message(summary[0].bytes)) {
                if (v.tag == 1 && v.wire == 2)
                    e.tag = v.bytes;
                else if (v.tag == 2 && v.wire == 5)
                    e.value = std::bit_cast<float>(static_cast<std::uint32_t>(read_le(v.bytes)));
                else
                    throw FormatError("unexpected Summary.Value field " + std::to_string(v.tag));
            }
        } else {
            throw FormatError("unexpected Event field " + std::to_string(f.tag));
        }
    }
    return e;
}

// Every record of a TFRecord file, each CRC checked; FormatError on a torn or damaged one.
std::vector<TfEvent> read_events(const std::filesystem::path& path) {
    const std::string file = test::read_bytes(path);
    std::vector<TfEvent> events;
    for (std::size_t pos = 0; pos < file.size();) {
        if (pos + 12 > file.size()) throw FormatError("record header cut short");
        const std::string_view header(file.data() + pos, 8);
        if (read_le({file.data() + pos + 8, 4}) != mask_crc32c(crc32c(header)))
            throw FormatError("length CRC mismatch");
        const std::uint64_t length = read_le(header);
        if (pos + 12 + length + 4 > file.size()) throw FormatError("record cut short");
        const std::string_view data(file.data() + pos + 12, length);
        if (read_le({file.data() + pos + 12 + length, 4}) != mask_crc32c(crc32c(data)))
            throw FormatError("data CRC mismatch");
        events.push_back(decode_event(data));
        pos += 12 + length + 4;
    }
    return events;
}

std::vector<std::filesystem::path> event_files(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

// step -> value of `tag` in the events, the later of two at one step (as a resumed run's are).
std::map<std::int64_t, float> series(const std::vector<TfEvent>& events, const std::string& tag) {
    std::map<std::int64_t, float> out;
    for (const TfEvent& e : events)
        if (e.tag == tag) out[e.step] = *e.value;
    return out;
}

// step -> `key` of metrics.jsonl's lines of `type`, as the float the event file holds.
std::map<std::int64_t, float> metrics_series(const std::filesystem::path& run, const std::string& type,
                                             const std::string& key) {
    std::map<std::int64_t, float> out;
    std::ifstream in(run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
        const auto j = nlohmann::json::parse(line);
        if (j["type"] == type) out[j["step"].get<std::int64_t>()] = j[key].get<float>();
    }
    return out;
}

TrainConfig tiny_run(const std::filesystem::path& dir) {
    std::ifstream in(demo_model_dir().parent_path() / "data" / "pirate_fortunes_train.jsonl");
    std::ofstream out(dir / "data.jsonl");
    std::string line;
    for (int i = 0; i < 48 && std::getline(in, line); ++i) out << line << '\n';
    TrainConfig c;
    c.model = demo_model_dir();
    c.run_dir = dir / "run";
    c.data.path = dir / "data.jsonl";
    c.data.valid_fraction = 0.2;
    c.data.max_seq_len = 64;
    c.micro_batch = 2;
    c.max_steps = 4;
    c.eval_every = 2;
    c.save_every = 2;
    c.lora.rank = 4;
    c.optim.adamw.lr = 1e-3;
    return c;
}

TrainerState run_to_end(Trainer& t) {
    t.start();
    t.wait();
    return t.state();
}

}  // namespace

class TestTensorBoard : public QObject {
    Q_OBJECT
private slots:
    void crc32cCheckValues();
    void varints();
    void protoFields();
    void writtenFileReadsBack();
    void sessionsGetTheirOwnFile();
    void failureNeverEndsTheRun();
    void runWarnsAndGoesOnWithoutTensorBoard();
    void runWritesWhatMetricsSay();
};

// RFC 3720 (iSCSI) B.4 and the common "123456789" check value.
void TestTensorBoard::crc32cCheckValues() {
    QCOMPARE(crc32c("123456789"), 0xE3069283u);
    QCOMPARE(crc32c(""), 0u);
    QCOMPARE(crc32c(std::string(32, '\0')), 0x8A9136AAu);
    QCOMPARE(crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
    std::string ascending;
    for (int i = 0; i < 32; ++i) ascending += static_cast<char>(i);
    QCOMPARE(crc32c(ascending), 0x46DD794Eu);
    QCOMPARE(crc32c("56789", crc32c("1234")), 0xE3069283u);  // continues across calls
    QCOMPARE(mask_crc32c(0), 0xA282EAD8u);
    QCOMPARE(mask_crc32c(0x00008000u), 0xA282EAD9u);  // rotated right by 15
}

void TestTensorBoard::varints() {
    const auto varint = [](std::uint64_t v) {
        std::string out;
        append_varint(out, v);
        return hex(out);
    };
    QCOMPARE(varint(0), std::string("00"));
    QCOMPARE(varint(1), std::string("01"));
    QCOMPARE(varint(127), std::string("7f"));
    QCOMPARE(varint(128), std::string("8001"));
    QCOMPARE(varint(150), std::string("9601"));
    QCOMPARE(varint(300), std::string("ac02"));
    QCOMPARE(varint(std::uint64_t{1} << 35), std::string("808080808001"));
    // int64 -1: ten bytes, as protobuf writes negative int64s.
    QCOMPARE(varint(static_cast<std::uint64_t>(std::int64_t{-1})), std::string("ffffffffffffffffff01"));
}

// The protobuf encoding guide's examples, and fixed fields little-endian.
void TestTensorBoard::protoFields() {
    ProtoWriter w;
    w.varint_field(1, 150);
    QCOMPARE(hex(w.bytes()), std::string("089601"));
    ProtoWriter s;
    s.bytes_field(2, "testing");
    QCOMPARE(hex(s.bytes()), std::string("120774657374696e67"));
    ProtoWriter f;
    f.float_field(2, 1.0f);
    QCOMPARE(hex(f.bytes()), std::string("150000803f"));
    ProtoWriter d;
    d.double_field(1, 1.0);
    QCOMPARE(hex(d.bytes()), std::string("09000000000000f03f"));
    ProtoWriter nested;
    nested.bytes_field(3, w.bytes());
    QCOMPARE(hex(nested.bytes()), std::string("1a03089601"));
    ProtoWriter big;
    big.varint_field(100, 1);  // a field number past 15 takes a two-byte key
    QCOMPARE(hex(big.bytes()), std::string("a00601"));
}

void TestTensorBoard::writtenFileReadsBack() {
    ScratchDir d;
    const double before = unix_time_now();
    TensorBoardWriter w(d.path() / "tb");
    w.add_scalar("train/loss", 1, 2.5f, 1700000000.25);
    w.add_scalar("eval/perplexity", 7, 12.1875f, 1700000001.5);
    w.add_scalar("train/lr", std::int64_t{5'000'000'000}, 1e-4f, 1700000002.0);  // a step past 32 bits

    const std::string name = w.path().filename().string();
    QVERIFY2(std::regex_match(name, std::regex(R"(events\.out\.tfevents\.\d{10}\..+)")), name.c_str());
    QCOMPARE(w.path().parent_path(), d.path() / "tb");
    const std::vector<TfEvent> events = read_events(w.path());
    QCOMPARE(events.size(), std::size_t(4));
    QCOMPARE(events[0].file_version, std::string("brain.Event:2"));
    QVERIFY(events[0].wall_time >= before && events[0].wall_time <= unix_time_now());
    QVERIFY(events[0].tag.empty() && !events[0].value);
    const std::vector<std::tuple<std::string, std::int64_t, float, double>> want = {
        {"train/loss", 1, 2.5f, 1700000000.25},
        {"eval/perplexity", 7, 12.1875f, 1700000001.5},
        {"train/lr", 5'000'000'000, 1e-4f, 1700000002.0}};
    for (std::size_t i = 0; i < want.size(); ++i) {
        const TfEvent& e = events[i + 1];
        QCOMPARE(e.tag, std::get<0>(want[i]));
        QCOMPARE(e.step, std::get<1>(want[i]));
        QCOMPARE(*e.value, std::get<2>(want[i]));
        QCOMPARE(e.wall_time, std::get<3>(want[i]));
        QVERIFY(e.file_version.empty());
    }
}

// A second session in the same second (a quick resume) must not append to the first's file.
void TestTensorBoard::sessionsGetTheirOwnFile() {
    ScratchDir d;
    TensorBoardWriter a(d.path()), b(d.path());
    QVERIFY(a.path() != b.path());
    b.add_scalar("train/loss", 1, 1.0f);
    QCOMPARE(read_events(a.path()).size(), std::size_t(1));
    QCOMPARE(read_events(b.path()).size(), std::size_t(2));
}

// A run folder whose tensorboard/ cannot be made (a file sits there): the log says why once
// and then stays quiet; the caller (the training session) turns that into a warning and goes on.
void TestTensorBoard::failureNeverEndsTheRun() {
    ScratchDir d;
    test::write_bytes(d.path() / "tensorboard", "not a folder");
    TensorBoardLog log(d.path(), std::chrono::milliseconds(0));
    QVERIFY(!log.add(LogLine{LogLine::Level::Info, "no scalars in a log line"}));
    const std::optional<std::string> why = log.add(StepMetrics{.step = 1, .loss = 2.0});
    QVERIFY(why);
    QVERIFY2(why->find("tensorboard") != std::string::npos && why->find("metrics.jsonl") != std::string::npos,
             why->c_str());
    QVERIFY(!log.add(StepMetrics{.step = 2, .loss = 1.5}));
}

void TestTensorBoard::runWarnsAndGoesOnWithoutTensorBoard() {
    ScratchDir d;
    const TrainConfig c = tiny_run(d.path());
    std::filesystem::create_directories(c.run_dir);
    test::write_bytes(c.run_dir / "tensorboard", "not a folder");
    Trainer t(c);
    QCOMPARE(run_to_end(t), TrainerState::Finished);
    std::vector<TrainEvent> events;
    t.events().drain(events);
    const auto warnings = std::count_if(events.begin(), events.end(), [](const TrainEvent& e) {
        const auto* line = std::get_if<LogLine>(&e);
        return line && line->level == LogLine::Level::Warning &&
               line->text.find("TensorBoard") != std::string::npos;
    });
    QCOMPARE(warnings, 1);
    QCOMPARE(metrics_series(c.run_dir, "step", "loss").size(), std::size_t(4));
    QVERIFY(test::read_bytes(c.run_dir / "events.jsonl").find("TensorBoard event file no longer written") !=
            std::string::npos);
}

// A real run, finished, then resumed from an earlier checkpoint for two more steps: each
// session has its own event file, and the scalars (the later session's where both have a step)
// are metrics.jsonl's.
void TestTensorBoard::runWritesWhatMetricsSay() {
    ScratchDir d;
    const TrainConfig c = tiny_run(d.path());
    Trainer first(c);
    QCOMPARE(run_to_end(first), TrainerState::Finished);
    const std::vector<std::filesystem::path> after_first = event_files(c.run_dir / "tensorboard");
    QCOMPARE(after_first.size(), std::size_t(1));
    const std::vector<TfEvent> first_events = read_events(after_first[0]);
    QCOMPARE(series(first_events, "train/loss"), metrics_series(c.run_dir, "step", "loss"));
    QCOMPARE(series(first_events, "eval/loss"), metrics_series(c.run_dir, "eval", "loss"));
    QCOMPARE(series(first_events, "eval/perplexity"), metrics_series(c.run_dir, "eval", "perplexity"));
    QCOMPARE(series(first_events, "train/lr"), metrics_series(c.run_dir, "step", "lr"));
    QCOMPARE(series(first_events, "train/grad_norm").size(), std::size_t(4));
    QCOMPARE(series(first_events, "memory_MiB/lora_weights").size(), std::size_t(4));
    QVERIFY(series(first_events, "memory_MiB/base_weights").at(1) > 0);

    // Resume from step 2: steps 3 and 4 are trained again, so TensorBoard has them twice.
    std::filesystem::remove_all(c.run_dir / "checkpoints" / "step-4");
    TrainConfig again;
    again.run_dir = c.run_dir;
    Trainer resumed(again, true, [](TrainConfig& r) { r.max_steps = 6; });
    QCOMPARE(run_to_end(resumed), TrainerState::Finished);
    const std::vector<std::filesystem::path> files = event_files(c.run_dir / "tensorboard");
    QCOMPARE(files.size(), std::size_t(2));
    QCOMPARE(files[0], after_first[0]);
    const std::vector<TfEvent> second = read_events(files[1]);
    QCOMPARE(second.front().file_version, std::string("brain.Event:2"));
    QCOMPARE(series(second, "train/loss").begin()->first, std::int64_t{3});
    std::vector<TfEvent> both = read_events(files[0]);
    both.insert(both.end(), second.begin(), second.end());
    QCOMPARE(series(both, "train/loss"), metrics_series(c.run_dir, "step", "loss"));
    QCOMPARE(series(both, "eval/loss"), metrics_series(c.run_dir, "eval", "loss"));
}

QTEST_GUILESS_MAIN(TestTensorBoard)
#include "test_tensorboard.moc"
