// SqlValue / SqlRow: a bound parameter or a column, the same for every
// store (SQLite, PostgreSQL): NULL, an integer, a double or text.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace fanout {

using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;
using SqlRow = std::vector<SqlValue>;

}  // namespace fanout
