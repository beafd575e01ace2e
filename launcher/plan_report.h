// What --dry-run says about performance: the cost model's prediction for the configured layout
// on a cluster, the layouts a device count could use, and the whole plan as JSON for scripts.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "launcher/run_setup.h"
#include "parallel/cost_model.h"

namespace trainer {

// The configured layout, as the cost model sees it.
Layout configured_layout(const RunSetup& run);
int64_t optimizer_state_bytes(const Config& cfg);

// "predicted on <cluster>: ..." lines for the configured layout.
std::string prediction_text(const RunSetup& run, const Cluster& cluster);

// The fastest layouts of `devices` devices that fit, as a table (at most `rows`).
std::string search_text(const RunSetup& run, const Cluster& cluster, int devices, int rows = 8);

// {"layers": [...], "stage_starts": [...], "layout": {...}, "cluster": name, "prediction": {...}},
// and with devices > 0 "search": the layouts of that many devices, fastest first.
nlohmann::json plan_json(const RunSetup& run, const Cluster& cluster, int devices = 0);

}  // namespace trainer
