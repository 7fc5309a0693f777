// A TensorBoard event file written without TensorFlow or protobuf: TFRecord records (uint64
// length, masked CRC-32C of the length, the data, masked CRC-32C of the data; all
// little-endian) whose data is a serialized tensorflow.Event (tensorflow/core/util/event.proto,
// summary.proto). The first record names the format ("brain.Event:2"); each scalar follows as
// Event{wall_time, step, summary{value{tag, simple_value}}}. Matches what tensorboard's
// summary/writer/event_file_writer.py and record_writer.py write.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/util/append_log.h"

namespace qls {

double unix_time_now();  // seconds since the epoch, as Event.wall_time carries them

// One TFRecord around `data`.
std::string tfrecord(std::string_view data);

class TensorBoardWriter {
public:
    // Creates `dir` and a new events.out.tfevents.<unix time>.<host> in it (".1", ".2", ...
    // after it when a session in the same second took the name), opening with the file_version
    // record. IoError when the file cannot be made or written (append_log.h's retries).
    explicit TensorBoardWriter(const std::filesystem::path& dir,
                               std::chrono::milliseconds retry_for = std::chrono::seconds(30));
    const std::filesystem::path& path() const { return m_path; }

    // Each scalar goes to the file in one write, so a running TensorBoard sees it at once.
    void add_scalar(std::string_view tag, std::int64_t step, float value, double wall_time = unix_time_now());

private:
    std::filesystem::path m_path;
    AppendLog m_file;
};

}  // namespace qls
