// Files that are whole or absent: written to a temporary beside the target, flushed with every
// error checked, fsynced, renamed into place, and the directory synced. A full disk or a crash
// leaves the previous file (or none), never an empty or half-written one.
#pragma once

#include <string>

namespace trainer {

// Throws OutputError "cannot write <path>: <reason>".
void write_file_durably(const std::string& path, const std::string& text);

// Makes the renames inside `dir` durable (best effort: a directory that cannot be opened is
// left as it is).
void fsync_directory(const std::string& dir);

}  // namespace trainer
