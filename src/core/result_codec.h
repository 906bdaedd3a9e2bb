// Binary form of a CommandResult, so the exactly-once session table (state_machine.h) can keep
// the answers it replays in snapshots. Decoding is strict: malformed input is refused, never
// misread.
#pragma once

#include "core/codec.h"
#include "core/command.h"

namespace dkv::core {

void write_result(ByteWriter& w, const CommandResult& result);
// False when the input is truncated or malformed.
bool read_result(ByteReader& r, CommandResult* result);

}  // namespace dkv::core
