#include "app/cli_commands.h"

namespace qls::cli {

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {};
    return table;
}

}  // namespace qls::cli
