// SPDX-License-Identifier: MIT
// uvreap: umbrella header.
#pragma once

#include "uvreap/exit_status.hpp"
#include "uvreap/reaper.hpp"
#include "uvreap/reaper_options.hpp"
#include "uvreap/run.hpp"
#include "uvreap/spawn_options.hpp"
#include "uvreap/stats.hpp"
#include "uvreap/version.hpp"
