#include "launcher/yaml_guard.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
#include <vector>

#include "core/error.h"

namespace trainer {
namespace {

// Counts each node's size with its aliases expanded, as the parser reports them in order.
class AliasCounter : public YAML::EventHandler {
 public:
  AliasCounter(std::string where, bool with_line)
      : where_(std::move(where)), with_line_(with_line) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_name_ = name; }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (anchor >= anchors_.size()) return;  // an unknown anchor: the loader names it
    const Anchor& a = anchors_[anchor];
    if (!a.closed)
      fail(mark, "alias *" + a.name + " refers to the node that contains it (a cycle)");
    add(mark, a.size);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Anchor {
    std::string name;
    long long size = 0;
    bool closed = false;
  };
  struct Open {
    YAML::anchor_t anchor;
    long long size;
    YAML::Mark mark;  // where it starts: named if it is what grows too large
  };

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const {
    throw ConfigError(where_ + (with_line_ ? ":" + std::to_string(mark.line + 1) : "") + ": " +
                      what);
  }
  void name(YAML::anchor_t anchor) {
    if (anchor == YAML::NullAnchor) return;
    if (anchor >= anchors_.size()) anchors_.resize(anchor + 1);
    anchors_[anchor].name = pending_name_;
  }
  // n more nodes in the collection being read (or the document).
  void add(const YAML::Mark& mark, long long n) {
    long long& size = open_.empty() ? total_ : open_.back().size;
    size += n;
    if (size > kMaxConfigNodes || total_ > kMaxConfigNodes)
      fail(mark, "the YAML expands to more than " + std::to_string(kMaxConfigNodes) +
                     " nodes through its aliases; a config is far smaller");
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    name(anchor);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {anchors_[anchor].name, 1, true};
    add(mark, 1);
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    name(anchor);
    open_.push_back({anchor, 1, mark});
  }
  void close() {
    const Open done = open_.back();
    open_.pop_back();
    if (done.anchor != YAML::NullAnchor) {
      anchors_[done.anchor].size = done.size;
      anchors_[done.anchor].closed = true;
    }
    add(done.mark, done.size);
  }

  std::string where_, pending_name_;
  bool with_line_;
  std::vector<Anchor> anchors_;  // by the parser's anchor number
  std::vector<Open> open_;       // collections being read, outermost first
  long long total_ = 0;
};

}  // namespace

void check_yaml_aliases(const std::string& text, const std::string& where, bool with_line) {
  std::istringstream in(text);
  AliasCounter counter(where, with_line);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const YAML::Exception&) {
    // Not valid YAML: YAML::Load reports it with its line.
  }
}

}  // namespace trainer
