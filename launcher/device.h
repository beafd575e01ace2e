// Which device a run trains on, from the config's `device` key and what this machine has.
#pragma once

#include <string>

namespace trainer {

struct DeviceChoice {
  std::string device;  // "cpu" (the only training device of this version)
  std::string note;    // said once at start when non-empty (GPUs present but unused)
};

// auto -> cpu; cuda -> ConfigError naming the key, since this version trains on the CPU only.
// `where` is the key's location for the error.
DeviceChoice choose_device(const std::string& requested, const std::string& where);

}  // namespace trainer
