// schema.h -- the directory's migrations (schema.cc), applied in order by Directory::open.
#pragma once

#include <span>

namespace hub::directory {

// SQL of each step; step i takes user_version i to i + 1.
std::span<const char* const> schema_steps();

}  // namespace hub::directory
