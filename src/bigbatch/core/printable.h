// Text quoted from a file or the command line into a message, made safe for a terminal.
#pragma once

#include <string>
#include <string_view>

namespace bigbatch {

// text with every byte outside printable ASCII (0x20..0x7e) written as \xNN (ESC as \x1b, a
// UTF-8 'é' as \xc3\xa9), so a quoted line cannot move the cursor, recolour or retitle the
// terminal it is printed on. Backslashes stay as they are.
std::string printable(std::string_view text);

}  // namespace bigbatch
