// YAML text is checked before it is loaded, because yaml-cpp builds aliases as shared nodes and
// everything that walks the tree afterwards would follow them: an alias inside the node it names
// (`a: &a [1, *a]`) is a cycle (endless recursion), and aliases of aliases ("billion laughs":
// 9 levels of 10 in 430 bytes) expand to 10^9 nodes. Both are refused here with a message.
#pragma once

#include <string>

namespace trainer {

// The most nodes a config may hold with every alias expanded (a real one holds hundreds).
constexpr long long kMaxConfigNodes = 100000;

// Throws ConfigError "<where>:<line>: ..." (or "<where>: ..." when with_line is false) for an alias
// that refers to a node containing it, or a document that expands past kMaxConfigNodes; returns
// quietly otherwise, also for text that is not valid YAML (the loader reports that). `where` names
// the text: a file, or "--set ...".
void check_yaml_aliases(const std::string& text, const std::string& where, bool with_line = true);

}  // namespace trainer
