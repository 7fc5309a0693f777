#include "core/train/tensorboard_writer.h"

#include <unistd.h>

#include <climits>
#include <cstdio>

#include "core/util/crc32c.h"
#include "core/util/error.h"
#include "core/util/proto_writer.h"

namespace qls {

namespace {

// Field numbers of tensorflow.Event, Summary and Summary.Value.
constexpr int kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5;
constexpr int kSummaryValue = 1;
constexpr int kValueTag = 1, kValueSimpleValue = 2;

std::string host_name() {
    char name[HOST_NAME_MAX + 1] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

// TensorBoard reads every file whose name holds "tfevents", in name order; the time first
// keeps a resumed session's file after the earlier ones.
std::filesystem::path new_event_file(const std::filesystem::path& dir) {
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%010lld", static_cast<long long>(unix_time_now()));
    const std::string base = std::string("events.out.tfevents.") + stamp + "." + host_name();
    // One process per run folder (run_lock.h): a name free now stays free.
    std::filesystem::path path = dir / base;
    for (int n = 1; std::filesystem::exists(path); ++n) path = dir / (base + "." + std::to_string(n));
    return path;
}

}  // namespace

double unix_time_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string tfrecord(std::string_view data) {
    std::string out;
    append_fixed(out, data.size(), 8);
    append_fixed(out, mask_crc32c(crc32c(out)), 4);
    out += data;
    append_fixed(out, mask_crc32c(crc32c(data)), 4);
    return out;
}

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& dir, std::chrono::milliseconds retry_for) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    QLS_CHECK(IoError, !ec, "cannot create folder '", dir.string(), "': ", ec.message());
    m_path = new_event_file(dir);
    m_file = AppendLog(m_path, retry_for);
    ProtoWriter event;
    event.double_field(kEventWallTime, unix_time_now());
    event.bytes_field(kEventFileVersion, "brain.Event:2");
    m_file.append_bytes(tfrecord(event.bytes()));
}

void TensorBoardWriter::add_scalar(std::string_view tag, std::int64_t step, float value, double wall_time) {
    ProtoWriter summary_value;
    summary_value.bytes_field(kValueTag, tag);
    summary_value.float_field(kValueSimpleValue, value);
    ProtoWriter summary;
    summary.bytes_field(kSummaryValue, summary_value.bytes());
    ProtoWriter event;
    event.double_field(kEventWallTime, wall_time);
    event.varint_field(kEventStep, static_cast<std::uint64_t>(step));
    event.bytes_field(kEventSummary, summary.bytes());
    m_file.append_bytes(tfrecord(event.bytes()));
}

}  // namespace qls
